import { illegalState, notFound, validationError } from "../shared/errors.js";
import { intersectScopes, normalizeScopes, requireSubset } from "../shared/scopes.js";
import { isTokenActiveInGrant, isTokenRevoked } from "./activity.js";
import type {
  IssueAuthorizationCode,
  IssueClientCredentials,
  IssuingContext,
  MintedToken,
  RedeemAuthorizationCode,
  RefreshTokens,
  UpdateGrantScopes,
} from "./commands.js";
import type { GrantEvent, IssuedToken } from "./events.js";
import type { GrantState, GrantToken } from "./state.js";

/**
 * The OAuth flows under a grant (RFC 6749 §4.1, §4.4, §6; RFC 7636; RFC 9700). Every rejection a
 * client can cause at redemption or refresh is FAILED_PRECONDITION + `invalid_grant` (or
 * `invalid_scope`), and nothing is appended, except the two replays RFC 9700 wants punished: a code
 * redeemed twice and a consumed refresh token presented again revoke the family they started, in
 * one event that names the reason (the command layer then answers `invalid_grant`).
 */

/** The scope that makes a code redemption issue a refresh token too (OpenID Connect's convention). */
export const OFFLINE_ACCESS = "offline_access";
export const CODE_REUSE_REASON = "authorization code redeemed twice";
export const REFRESH_REUSE_REASON = "refresh token reused";

/** RFC 7636 §4.2: base64url of a SHA-256 digest, no padding. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

const invalidGrant = (message: string, field?: string) =>
  illegalState(message, field === undefined ? { oauthCode: "invalid_grant" } : { field, oauthCode: "invalid_grant" });

/** A grant's scopes as far as its client still allows them (UpdateClient may have narrowed them). */
export const effectiveGrantScopes = (state: GrantState, allowed: readonly string[]): string[] => intersectScopes(state.scopes, allowed);

/** When the token's family started: its first token's issue time (family ids are the first token's id). */
export const familyStartedAt = (state: GrantState, token: GrantToken): number => state.tokens.get(token.familyId)?.issuedAt ?? token.issuedAt;

export function issueCode(command: IssueAuthorizationCode, state: GrantState): GrantEvent[] {
  const { now, client } = command;
  if (command.codeId === "" || command.hash === "") throw validationError("code id and hash are required", { field: "code" });
  requirePositiveTtl(command.ttlMs, "code");
  if (state.codes.has(command.codeId)) throw illegalState("code id is already used in this grant", { field: "code" });
  requireIssuable(state, command);
  if (!client.redirectUris.includes(command.redirectUri)) {
    // RFC 6749 §3.1.2.3: exact match against a registered URI, never a prefix or pattern.
    throw illegalState("redirect_uri is not registered for this client", { field: "redirect_uri", oauthCode: "invalid_request" });
  }
  if (command.codeChallenge === null && client.clientType === "public") {
    throw illegalState("a public client must send a PKCE code_challenge (S256)", { field: "code_challenge", oauthCode: "invalid_request" });
  }
  if (command.codeChallenge !== null && !S256_CHALLENGE.test(command.codeChallenge)) {
    throw validationError("code_challenge must be 43 base64url characters (S256)", { field: "code_challenge", oauthCode: "invalid_request" });
  }
  const scopes = scopesWithin(command.scopes, effectiveGrantScopes(state, client.allowedScopes), "granted");
  return [
    {
      type: "code.issued",
      data: {
        grantId: state.grantId,
        codeId: command.codeId,
        hash: command.hash,
        redirectUri: command.redirectUri,
        codeChallenge: command.codeChallenge,
        codeChallengeMethod: command.codeChallenge === null ? null : "S256",
        scopes,
        issuedAt: now,
        expiresAt: Math.min(now + command.ttlMs, state.expiresAt ?? Number.POSITIVE_INFINITY),
      },
    },
  ];
}

export function redeemCode(command: RedeemAuthorizationCode, state: GrantState): GrantEvent[] {
  const { now, client, access, refresh } = command;
  requireExisting(state);
  const code = state.codes.get(command.codeId);
  if (code === undefined) throw invalidGrant("authorization code not found", "code");
  if (state.clientId !== client.clientId) throw invalidGrant("authorization code was issued to another client", "client_id");
  if (code.redeemedFamily !== null) {
    // The same request retried (its minted ids are the family): answer as the first attempt did.
    if (code.redeemedFamily === refresh.tokenId || code.redeemedFamily === access.tokenId) return [];
    if (state.revokedFamilies.has(code.redeemedFamily) || state.status === "revoked") throw invalidGrant("authorization code was already used", "code");
    return [{ type: "token.revoked", data: { grantId: state.grantId, tokenIds: [], familyIds: [code.redeemedFamily], reason: CODE_REUSE_REASON } }];
  }
  if (now >= code.expiresAt) throw invalidGrant("authorization code has expired", "code");
  if (command.redirectUri !== code.redirectUri) throw invalidGrant("redirect_uri does not match the authorization request", "redirect_uri");
  if (code.codeChallenge === null) {
    // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a PKCE downgrade attempt.
    if (command.verifierChallenge !== null) throw invalidGrant("code_verifier sent for a code issued without a code_challenge", "code_verifier");
    if (client.clientType === "public") throw invalidGrant("a public client's code needs PKCE", "code_verifier");
  } else {
    if (command.verifierChallenge === null) throw invalidGrant("code_verifier is required", "code_verifier");
    if (command.verifierChallenge !== code.codeChallenge) throw invalidGrant("code_verifier does not match the code_challenge", "code_verifier");
  }
  requireIssuable(state, command);
  if (client.tokensRevokedAt !== null && code.issuedAt <= client.tokensRevokedAt) {
    throw invalidGrant("authorization code was issued before the client's tokens were revoked", "code");
  }
  const scopes = intersectScopes(code.scopes, state.scopes, client.allowedScopes);
  if (scopes.length === 0) throw illegalState("none of the code's scopes is still granted", { field: "scopes", oauthCode: "invalid_scope" });
  const withRefresh = scopes.includes(OFFLINE_ACCESS);
  requireMinted(access, "access", state);
  if (withRefresh) requireMinted(refresh, "refresh", state);
  const familyId = withRefresh ? refresh.tokenId : access.tokenId;
  const tokens = [issued(state, now, access, "access_token", familyId, scopes)];
  if (withRefresh) tokens.push(issued(state, now, refresh, "refresh_token", familyId, scopes));
  return [{ type: "code.redeemed", data: { grantId: state.grantId, codeId: command.codeId, tokens } }];
}

export function rotateRefresh(command: RefreshTokens, state: GrantState): GrantEvent[] {
  const { now, client, access, refresh } = command;
  requireExisting(state);
  const token = state.tokens.get(command.tokenId);
  if (token === undefined || token.kind !== "refresh_token") throw invalidGrant("refresh token not found", "refresh_token");
  if (state.clientId !== client.clientId) throw invalidGrant("refresh token was issued to another client", "client_id");
  const consumed = state.consumed.get(command.tokenId);
  if (consumed !== undefined) {
    if (consumed.by === refresh.tokenId) return []; // this very request, retried
    // Grace period: the caller hands the already-issued successor out again; nothing to append.
    if (command.graceSuccessorId === consumed.by && isTokenActiveInGrant(state, consumed.by, now)) return [];
    if (isTokenRevoked(state, token)) throw invalidGrant("refresh token was already used", "refresh_token");
    return [
      {
        type: "refresh.reuse_detected",
        data: { grantId: state.grantId, tokenId: command.tokenId, familyId: token.familyId, reason: REFRESH_REUSE_REASON },
      },
    ];
  }
  if (isTokenRevoked(state, token)) throw invalidGrant("refresh token is revoked", "refresh_token");
  if (now >= token.expiresAt) throw invalidGrant("refresh token has expired", "refresh_token");
  requireIssuable(state, command);
  if (client.tokensRevokedAt !== null && familyStartedAt(state, token) <= client.tokensRevokedAt) {
    throw invalidGrant("refresh token was issued before the client's tokens were revoked", "refresh_token");
  }
  const requested = normalizeScopes(command.scopes);
  // RFC 6749 §6: never a scope the presented token did not carry.
  requireSubset(requested, token.scopes, "scopes", "held by the refresh token");
  const scopes = intersectScopes(requested.length === 0 ? token.scopes : requested, state.scopes, client.allowedScopes);
  if (scopes.length === 0) throw illegalState("none of the requested scopes is still granted", { field: "scopes", oauthCode: "invalid_scope" });
  requireMinted(access, "access", state);
  requireMinted(refresh, "refresh", state);
  return [
    {
      type: "refresh.rotated",
      data: {
        grantId: state.grantId,
        consumedTokenId: command.tokenId,
        tokens: [issued(state, now, access, "access_token", token.familyId, scopes), issued(state, now, refresh, "refresh_token", token.familyId, scopes)],
      },
    },
  ];
}

export function clientCredentials(command: IssueClientCredentials, state: GrantState): GrantEvent[] {
  const { now, client, access } = command;
  if (client.status === "unregistered") throw notFound("client not found", { field: "client_id", oauthCode: "invalid_client" });
  if (client.status !== "active") throw illegalState(`client is ${client.status}`, { field: "client_id", oauthCode: "invalid_client" });
  if (client.clientType !== "confidential") {
    throw illegalState("only a confidential client may use client credentials", { field: "client_id", oauthCode: "unauthorized_client" });
  }
  requireMinted(access, "access", state);
  const events: GrantEvent[] = [];
  if (state.status === "none") {
    if (command.grantId === "") throw validationError("grant_id is required", { field: "grant_id" });
    events.push({ type: "grant.created_for_client", data: { grantId: command.grantId, clientId: client.clientId, scopes: [...client.allowedScopes], createdAt: now } });
  } else {
    if (state.kind !== "client" || state.clientId !== client.clientId) throw invalidGrant("not this client's own grant", "grant_id");
    if (state.status === "revoked") throw invalidGrant("the client's own grant is revoked", "grant_id");
    const same = state.scopes.length === client.allowedScopes.length && state.scopes.every((s, i) => s === client.allowedScopes[i]);
    // The client's grant follows its allowed scopes, so widening them lets the next token use them.
    if (!same) events.push({ type: "grant.scopes_updated", data: { grantId: state.grantId, scopes: [...client.allowedScopes] } });
  }
  const scopes = scopesWithin(command.scopes, client.allowedScopes, "allowed for this client");
  const grantId = state.status === "none" ? command.grantId : state.grantId;
  const token: IssuedToken = {
    tokenId: access.tokenId,
    kind: "access_token",
    hash: access.hash,
    familyId: access.tokenId,
    scopes,
    issuedAt: now,
    expiresAt: now + access.ttlMs,
  };
  events.push({ type: "token.issued", data: { grantId, tokens: [token] } });
  return events;
}

export function updateScopes(command: UpdateGrantScopes, state: GrantState): GrantEvent[] {
  requireExisting(state);
  if (state.kind === "client") {
    throw illegalState("the client's own grant follows its allowed scopes: use UpdateClient", { field: "grant_id", oauthCode: "invalid_request" });
  }
  if (state.status === "revoked") throw invalidGrant("grant is revoked");
  if (state.expiresAt !== null && state.expiresAt <= command.now) throw invalidGrant("grant has expired");
  requireClient(state, command.client);
  const scopes = normalizeScopes(command.scopes);
  if (scopes.length === 0) throw validationError("at least one scope is required (revoke the grant instead)", { field: "scopes", oauthCode: "invalid_scope" });
  requireSubset(scopes, command.client.allowedScopes, "scopes", "allowed for this client");
  if (scopes.length === state.scopes.length && scopes.every((s, i) => s === state.scopes[i])) return [];
  return [{ type: "grant.scopes_updated", data: { grantId: state.grantId, scopes } }];
}

/** A token as `token.issued` and rotations record it: it never outlives its grant. */
export function issued(state: GrantState, now: number, minted: MintedToken, kind: IssuedToken["kind"], familyId: string, scopes: string[]): IssuedToken {
  return {
    tokenId: minted.tokenId,
    kind,
    hash: minted.hash,
    familyId,
    scopes,
    issuedAt: now,
    // A token never outlives its grant.
    expiresAt: Math.min(now + minted.ttlMs, state.expiresAt ?? Number.POSITIVE_INFINITY),
  };
}

/** Requested scopes (normalized) within `available`; empty asks for all of them; nothing left is `invalid_scope`. */
function scopesWithin(requested: readonly string[], available: readonly string[], what: string): string[] {
  const normalized = normalizeScopes(requested);
  requireSubset(normalized, available, "scopes", what);
  const scopes = normalized.length === 0 ? [...available] : normalized;
  if (scopes.length === 0) throw illegalState("no scope is left to issue", { field: "scopes", oauthCode: "invalid_scope" });
  return scopes;
}

function requireExisting(state: GrantState): void {
  if (state.status === "none") throw notFound("grant not found", { field: "grant_id", oauthCode: "invalid_grant" });
}

/** The grant can issue now: a user grant, active, not past its expiry or its subject's watermark, its client active. */
function requireIssuable(state: GrantState, context: IssuingContext): void {
  requireExisting(state);
  if (state.kind !== "user") throw invalidGrant("the client's own grant only issues client-credentials tokens", "grant_id");
  if (state.status === "revoked") throw invalidGrant("grant is revoked");
  if (state.expiresAt !== null && state.expiresAt <= context.now) throw invalidGrant("grant has expired");
  if (context.subjectRevokedAt !== null && state.createdAt <= context.subjectRevokedAt) {
    throw invalidGrant("grant was revoked with every grant of its subject");
  }
  requireClient(state, context.client);
}

function requireClient(state: GrantState, client: IssuingContext["client"]): void {
  if (client.status !== "active") throw illegalState(`client is ${client.status}`, { field: "client_id", oauthCode: "invalid_client" });
  if (client.clientId !== state.clientId) throw invalidGrant("grant was issued to another client", "client_id");
}

function requirePositiveTtl(ttlMs: number, field: string): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw validationError(`${field} ttl must be a positive whole number of milliseconds`, { field: `${field}.ttl_ms` });
  }
}

function requireMinted(minted: MintedToken, field: "access" | "refresh", state: GrantState): void {
  if (minted.tokenId === "") throw validationError(`${field} token id is required`, { field: `${field}.token_id` });
  if (minted.hash === "") throw validationError(`${field} token hash is required`, { field: `${field}.hash` });
  requirePositiveTtl(minted.ttlMs, `${field} token`);
  if (state.tokens.has(minted.tokenId)) throw illegalState(`${field} token id is already used in this grant`, { field: `${field}.token_id` });
}
