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

export type ClientCommand = RegisterClient | SuspendClient | ReinstateClient | DeleteClient;
