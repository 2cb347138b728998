import { assertNever } from "../shared/decider.js";
import { illegalState, notFound, validationError } from "../shared/errors.js";
import { normalizeScopes } from "../shared/scopes.js";
import type { ClientCommand, RegisterClient, RotateClientSecret, UpdateClient } from "./commands.js";
import type { ClientEvent } from "./events.js";
import type { ClientState, ClientStatus } from "./state.js";

export function decideClient(command: ClientCommand, state: ClientState): ClientEvent[] {
  switch (command.type) {
    case "RegisterClient":
      return register(command, state);
    case "SuspendClient":
      requireStatus(state, "active", "suspended");
      return [{ type: "client.suspended", data: { clientId: state.clientId, reason: command.reason } }];
    case "ReinstateClient":
      requireStatus(state, "suspended", "reinstated");
      return [{ type: "client.reinstated", data: { clientId: state.clientId, reason: command.reason } }];
    case "DeleteClient":
      requireStatus(state, ["active", "suspended"], "deleted");
      return [{ type: "client.deleted", data: { clientId: state.clientId, reason: command.reason } }];
    case "UpdateClient":
      return update(command, state);
    case "RotateClientSecret":
      return rotateSecret(command, state);
    case "RevokeClientTokens": {
      requireStatus(state, ["active", "suspended"], "changed");
      // Never backwards (clock skew between command services would revive tokens), as for subjects.
      const revokedAt = Math.max(command.now, state.tokensRevokedAt ?? Number.NEGATIVE_INFINITY);
      return [{ type: "client.tokens_revoked", data: { clientId: state.clientId, reason: command.reason, revokedAt } }];
    }
    default:
      return assertNever(command, "client command");
  }
}

function register(command: RegisterClient, state: ClientState): ClientEvent[] {
  if (state.status !== "unregistered") {
    throw illegalState("client already registered", { field: "client_id", oauthCode: "invalid_request" });
  }
  requireNonEmpty(command.clientId, "client_id");
  requireNonEmpty(command.ownerAccount, "owner_account");
  requireNonEmpty(command.name, "name");
  command.redirectUris.forEach((uri, index) => requireRedirectUri(uri, `redirect_uris[${index}]`));
  if (command.clientType === "confidential" && command.secretHash === null) {
    throw validationError("a confidential client needs a secret", { field: "client_type", oauthCode: "invalid_request" });
  }
  if (command.clientType === "public" && command.secretHash !== null) {
    // A public client cannot keep a secret; holding one would suggest it authenticates when it cannot.
    throw validationError("a public client has no secret", { field: "client_type", oauthCode: "invalid_request" });
  }
  return [
    {
      type: "client.registered",
      data: {
        clientId: command.clientId,
        ownerAccount: command.ownerAccount,
        name: command.name,
        redirectUris: [...new Set(command.redirectUris)],
        allowedScopes: normalizeScopes(command.allowedScopes),
        clientType: command.clientType,
        secretHash: command.secretHash,
      },
    },
  ];
}

function update(command: UpdateClient, state: ClientState): ClientEvent[] {
  requireStatus(state, ["active", "suspended"], "changed");
  const name = command.name ?? state.name;
  requireNonEmpty(name, "name");
  const redirectUris = command.redirectUris === undefined ? state.redirectUris : [...new Set(command.redirectUris)];
  if (command.redirectUris !== undefined) redirectUris.forEach((uri, index) => requireRedirectUri(uri, `redirect_uris[${index}]`));
  const allowedScopes = command.allowedScopes === undefined ? state.allowedScopes : normalizeScopes(command.allowedScopes);
  if (allowedScopes.length === 0) {
    throw validationError("a client needs at least one allowed scope", { field: "allowed_scopes", oauthCode: "invalid_scope" });
  }
  const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
  if (name === state.name && same(redirectUris, state.redirectUris) && same(allowedScopes, state.allowedScopes)) return [];
  return [{ type: "client.updated", data: { clientId: state.clientId, name, redirectUris: [...redirectUris], allowedScopes: [...allowedScopes] } }];
}

function rotateSecret(command: RotateClientSecret, state: ClientState): ClientEvent[] {
  requireStatus(state, ["active", "suspended"], "given a new secret");
  if (state.clientType !== "confidential") {
    throw illegalState("a public client has no secret to rotate", { field: "client_id", oauthCode: "invalid_client" });
  }
  if (command.secretHash === "") throw validationError("secret hash is required", { field: "secret_hash" });
  if (!Number.isSafeInteger(command.overlapMs) || command.overlapMs < 0) {
    throw validationError("overlap must be a whole, non-negative number of milliseconds", { field: "overlap_seconds" });
  }
  const previousSecretValidUntil = command.overlapMs === 0 ? null : command.now + command.overlapMs;
  return [{ type: "client.secret_rotated", data: { clientId: state.clientId, secretHash: command.secretHash, previousSecretValidUntil } }];
}

function requireStatus(state: ClientState, allowed: ClientStatus | readonly ClientStatus[], action: string): void {
  if (state.status === "unregistered") throw notFound("client not found", { field: "client_id" });
  const ok = typeof allowed === "string" ? state.status === allowed : allowed.includes(state.status);
  if (!ok) throw illegalState(`a ${state.status} client cannot be ${action}`, { oauthCode: "invalid_client" });
}

function requireNonEmpty(value: string, field: string): void {
  if (value.trim() === "") throw validationError(`${field} is required`, { field, oauthCode: "invalid_request" });
}

/** RFC 6749 §3.1.2: absolute, and no fragment (the authorization response appends its own parameters). */
function requireRedirectUri(uri: string, field: string): void {
  if (!URL.canParse(uri)) {
    throw validationError(`redirect URI "${uri}" is not an absolute URI`, { field, oauthCode: "invalid_request" });
  }
  if (uri.includes("#")) {
    throw validationError(`redirect URI "${uri}" has a fragment`, { field, oauthCode: "invalid_request" });
  }
}
