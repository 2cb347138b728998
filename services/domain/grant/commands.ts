import type { ClientState } from "../client/state.js";

export interface CreateGrant {
  readonly type: "CreateGrant";
  readonly now: number;
  readonly grantId: string;
  readonly subject: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly resources: readonly string[];
  /** Epoch milliseconds; null for a grant that does not expire. */
  readonly expiresAt: number | null;
  /** The client's current state, loaded by the caller: the grant must name an active client. */
  readonly client: ClientState;
}

export interface RevokeGrant {
  readonly type: "RevokeGrant";
  readonly now: number;
  readonly reason: string;
}

/** A token minted by the caller: only its id and keyed hash ever reach the log. */
export interface MintedToken {
  readonly tokenId: string;
  readonly hash: string;
  readonly ttlMs: number;
}

export interface IssueTokens {
  readonly type: "IssueTokens";
  readonly now: number;
  /** The grant's client, loaded by the caller. */
  readonly client: ClientState;
  /** The subject's "revoked before" watermark, loaded by the caller; null when never revoked. */
  readonly subjectRevokedAt: number | null;
  /** A subset of the grant's scopes; empty means all of them. */
  readonly scopes: readonly string[];
  readonly access: MintedToken;
  readonly refresh: MintedToken | null;
}

export interface RevokeToken {
  readonly type: "RevokeToken";
  readonly now: number;
  readonly tokenId: string;
  readonly reason: string;
}

export type GrantCommand = CreateGrant | RevokeGrant | IssueTokens | RevokeToken;
