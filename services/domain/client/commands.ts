import type { ClientType } from "./state.js";

export interface RegisterClient {
  readonly type: "RegisterClient";
  readonly now: number;
  readonly clientId: string;
  readonly ownerAccount: string;
  readonly name: string;
  readonly redirectUris: readonly string[];
  readonly allowedScopes: readonly string[];
  readonly clientType: ClientType;
  /** Slow salted hash of the secret, computed by the caller; null for a public client. */
  readonly secretHash: string | null;
}

export interface SuspendClient {
  readonly type: "SuspendClient";
  readonly now: number;
  readonly clientId: string;
  readonly reason: string;
}

export interface ReinstateClient {
  readonly type: "ReinstateClient";
  readonly now: number;
  readonly clientId: string;
  readonly reason: string;
}

export interface DeleteClient {
  readonly type: "DeleteClient";
  readonly now: number;
  readonly clientId: string;
  readonly reason: string;
}

/** Changes what is given, keeps the rest. Scopes are checked against the catalog by the caller. */
export interface UpdateClient {
  readonly type: "UpdateClient";
  readonly now: number;
  readonly name?: string | undefined;
  readonly redirectUris?: readonly string[] | undefined;
  readonly allowedScopes?: readonly string[] | undefined;
}

export interface RotateClientSecret {
  readonly type: "RotateClientSecret";
  readonly now: number;
  /** Slow salted hash of the new secret, computed by the caller. */
  readonly secretHash: string;
  /** How long the previous secret keeps working, ms; 0 ends it at once. */
  readonly overlapMs: number;
}

/** Deactivates every token of the app issued so far without suspending it: one watermark event. */
export interface RevokeClientTokens {
  readonly type: "RevokeClientTokens";
  readonly now: number;
  readonly reason: string;
}

export type ClientCommand =
  | RegisterClient
  | SuspendClient
  | ReinstateClient
  | DeleteClient
  | UpdateClient
  | RotateClientSecret
  | RevokeClientTokens;
