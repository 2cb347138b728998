import type { ClientState } from "../client/state.js";
import { assertNever } from "../shared/decider.js";
import { illegalState, notFound, validationError } from "../shared/errors.js";
import { intersectScopes, normalizeScopes, requireSubset } from "../shared/scopes.js";
import { isTokenRevoked } from "./activity.js";
import { clientCredentials, issueCode, issued, redeemCode, rotateRefresh, updateScopes } from "./flows.js";
import type { CreateGrant, GrantCommand, IssueTokens, MintedToken, RevokeGrant, RevokeToken } from "./commands.js";
import type { GrantEvent, IssuedToken } from "./events.js";
import type { GrantState } from "./state.js";

export function decideGrant(command: GrantCommand, state: GrantState): GrantEvent[] {
  switch (command.type) {
    case "CreateGrant":
      return create(command, state);
    case "RevokeGrant":
      return revoke(command, state);
    case "IssueTokens":
      return issue(command, state);
    case "RevokeToken":
      return revokeToken(command, state);
    case "IssueAuthorizationCode":
      return issueCode(command, state);
    case "RedeemAuthorizationCode":
      return redeemCode(command, state);
    case "RefreshTokens":
      return rotateRefresh(command, state);
    case "IssueClientCredentials":
      return clientCredentials(command, state);
    case "UpdateGrantScopes":
      return updateScopes(command, state);
    default:
      return assertNever(command, "grant command");
  }
}

function create(command: CreateGrant, state: GrantState): GrantEvent[] {
  if (state.status !== "none") throw illegalState("grant already exists", { field: "grant_id", oauthCode: "invalid_request" });
  if (command.grantId === "") throw validationError("grant_id is required", { field: "grant_id", oauthCode: "invalid_request" });
  if (command.subject.trim() === "") throw validationError("subject is required", { field: "subject", oauthCode: "invalid_request" });
  if (command.scopes.length === 0) throw validationError("at least one scope is required", { field: "scopes", oauthCode: "invalid_scope" });
  if (command.expiresAt !== null && command.expiresAt <= command.now) {
    throw validationError("expires_at must be in the future", { field: "expires_at", oauthCode: "invalid_request" });
  }
  requireActiveClient(command.client);
  if (command.client.clientId !== command.clientId) {
    // The caller loaded the wrong aggregate; deciding against it would check the wrong scopes.
    throw validationError("client state does not belong to client_id", { field: "client_id", oauthCode: "invalid_request" });
  }
  const scopes = normalizeScopes(command.scopes);
  requireSubset(scopes, command.client.allowedScopes, "scopes", "allowed for this client");
  return [
    {
      type: "grant.created",
      data: {
        grantId: command.grantId,
        subject: command.subject,
        clientId: command.clientId,
        scopes,
        resources: [...new Set(command.resources)],
        expiresAt: command.expiresAt,
        createdAt: command.now,
      },
    },
  ];
}

function revoke(command: RevokeGrant, state: GrantState): GrantEvent[] {
  requireExisting(state);
  if (state.status === "revoked") throw illegalState("grant already revoked", { oauthCode: "invalid_grant" });
  return [{ type: "grant.revoked", data: { grantId: state.grantId, reason: command.reason } }];
}

function issue(command: IssueTokens, state: GrantState): GrantEvent[] {
  const { now, access, refresh } = command;
  requireMinted(access, "access", state);
  if (refresh !== null) {
    requireMinted(refresh, "refresh", state);
    if (refresh.tokenId === access.tokenId) {
      throw validationError("access and refresh tokens need distinct ids", { field: "refresh.token_id" });
    }
  }
  requireExisting(state);
  if (state.kind === "client") {
    throw illegalState("the client's own grant only issues client-credentials tokens", { field: "grant_id", oauthCode: "invalid_grant" });
  }
  if (state.status === "revoked") throw illegalState("grant is revoked", { oauthCode: "invalid_grant" });
  if (state.expiresAt !== null && state.expiresAt <= now) throw illegalState("grant has expired", { oauthCode: "invalid_grant" });
  if (command.subjectRevokedAt !== null && state.createdAt <= command.subjectRevokedAt) {
    throw illegalState("grant was revoked with every grant of its subject", { oauthCode: "invalid_grant" });
  }
  if (command.client.status !== "active") {
    throw illegalState(`client is ${command.client.status}`, { field: "client_id", oauthCode: "invalid_client" });
  }
  if (command.client.clientId !== state.clientId) {
    throw illegalState("grant was issued to another client", { field: "client_id", oauthCode: "invalid_grant" });
  }
  const requested = normalizeScopes(command.scopes);
  requireSubset(requested, state.scopes, "scopes", "granted");
  // Narrowing the client's allowed scopes (UpdateClient) narrows what its grants can issue from then on.
  requireSubset(requested, command.client.allowedScopes, "scopes", "allowed for this client");
  const scopes = requested.length === 0 ? intersectScopes(state.scopes, command.client.allowedScopes) : requested;
  if (scopes.length === 0) throw illegalState("none of the grant's scopes is still allowed for its client", { field: "scopes", oauthCode: "invalid_scope" });
  const familyId = refresh === null ? access.tokenId : refresh.tokenId;
  // A token never outlives its grant, so expiring the grant needs no per-token event.
  const token = (minted: MintedToken, kind: IssuedToken["kind"]): IssuedToken => issued(state, now, minted, kind, familyId, scopes);
  const tokens = refresh === null ? [token(access, "access_token")] : [token(access, "access_token"), token(refresh, "refresh_token")];
  return [{ type: "token.issued", data: { grantId: state.grantId, tokens } }];
}

function revokeToken(command: RevokeToken, state: GrantState): GrantEvent[] {
  requireExisting(state);
  const token = state.tokens.get(command.tokenId);
  if (token === undefined) throw notFound("token not found in this grant", { field: "token", oauthCode: "invalid_token" });
  // RFC 7009 §2.2: revoking an inactive token succeeds, and appending again would only add noise.
  // Expiry alone does not count: an expired refresh token still takes its family's access token down.
  if (isTokenRevoked(state, token)) return [];
  const revokeFamily = token.kind === "refresh_token" || command.wholeFamily === true;
  return [
    {
      type: "token.revoked",
      data: {
        grantId: state.grantId,
        tokenIds: revokeFamily ? [] : [command.tokenId],
        familyIds: revokeFamily ? [token.familyId] : [],
        reason: command.reason,
      },
    },
  ];
}

function requireExisting(state: GrantState): void {
  if (state.status === "none") throw notFound("grant not found", { field: "grant_id", oauthCode: "invalid_grant" });
}

function requireActiveClient(client: ClientState): void {
  if (client.status === "unregistered") throw notFound("client not found", { field: "client_id", oauthCode: "invalid_client" });
  if (client.status !== "active") throw illegalState(`client is ${client.status}`, { field: "client_id", oauthCode: "invalid_client" });
}

function requireMinted(minted: MintedToken, field: "access" | "refresh", state: GrantState): void {
  if (minted.tokenId === "") throw validationError(`${field} token id is required`, { field: `${field}.token_id` });
  if (minted.hash === "") throw validationError(`${field} token hash is required`, { field: `${field}.hash` });
  if (!Number.isSafeInteger(minted.ttlMs) || minted.ttlMs <= 0) {
    throw validationError(`${field} token ttl must be a positive whole number of milliseconds`, { field: `${field}.ttl_ms` });
  }
  if (state.tokens.has(minted.tokenId)) {
    throw illegalState(`${field} token id is already used in this grant`, { field: `${field}.token_id` });
  }
}
