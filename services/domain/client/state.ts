import { assertNever } from "../shared/decider.js";
import type { ClientEvent } from "./events.js";

export type ClientType = "confidential" | "public";
export type ClientStatus = "unregistered" | "active" | "suspended" | "deleted";

/**
 * A client as its events describe it. While `status` is "unregistered" the other fields hold
 * placeholders. Times are not here: client events carry none, the envelope does.
 */
export interface ClientState {
  readonly status: ClientStatus;
  readonly clientId: string;
  readonly ownerAccount: string;
  readonly name: string;
  readonly redirectUris: readonly string[];
  /** Normalized (sorted, unique). */
  readonly allowedScopes: readonly string[];
  readonly clientType: ClientType;
  readonly secretHash: string | null;
  /** The secret before the last rotation, while its overlap window lasts (see previousSecretValidUntil). */
  readonly previousSecretHash: string | null;
  /** Epoch ms; null when there is no previous secret. */
  readonly previousSecretValidUntil: number | null;
  /** "Tokens revoked before" watermark, epoch ms (RevokeClientTokens); null when never revoked. */
  readonly tokensRevokedAt: number | null;
}

export const initialClientState: ClientState = {
  status: "unregistered",
  clientId: "",
  ownerAccount: "",
  name: "",
  redirectUris: [],
  allowedScopes: [],
  clientType: "public",
  secretHash: null,
  previousSecretHash: null,
  previousSecretValidUntil: null,
  tokensRevokedAt: null,
};

export function evolveClient(state: ClientState, event: ClientEvent): ClientState {
  switch (event.type) {
    case "client.registered": {
      const { clientId, ownerAccount, name, redirectUris, allowedScopes, clientType, secretHash } = event.data;
      return { ...initialClientState, status: "active", clientId, ownerAccount, name, redirectUris, allowedScopes, clientType, secretHash };
    }
    case "client.suspended":
      return { ...state, status: "suspended" };
    case "client.reinstated":
      return { ...state, status: "active" };
    case "client.deleted":
      return { ...state, status: "deleted" };
    case "client.updated": {
      const { name, redirectUris, allowedScopes } = event.data;
      return { ...state, name, redirectUris, allowedScopes };
    }
    case "client.secret_rotated": {
      const { secretHash, previousSecretValidUntil } = event.data;
      const overlap = previousSecretValidUntil !== null && state.secretHash !== null;
      return {
        ...state,
        secretHash,
        previousSecretHash: overlap ? state.secretHash : null,
        previousSecretValidUntil: overlap ? previousSecretValidUntil : null,
      };
    }
    case "client.tokens_revoked":
      return { ...state, tokensRevokedAt: Math.max(state.tokensRevokedAt ?? Number.NEGATIVE_INFINITY, event.data.revokedAt) };
    default:
      return assertNever(event, "client event");
  }
}
