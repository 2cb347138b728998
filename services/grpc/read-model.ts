/** The read side the query RPCs use: implemented by the tokens projection (projections/tokens). */

export interface ActiveToken {
  readonly tokenId: string;
  readonly kind: "access_token" | "refresh_token";
  readonly scopes: readonly string[];
  /** The scopes space-separated, as RFC 7662 `scope` wants them. */
  readonly scope: string;
  readonly clientId: string;
  readonly subject: string;
  /** Epoch milliseconds. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly grantId: string;
  readonly resources: readonly string[];
  /** Epoch ms from which time alone makes it inactive: the earlier of the token's and its grant's expiry. */
  readonly validUntil: number;
}

export interface ClientView {
  readonly clientId: string;
  readonly ownerAccount: string;
  readonly name: string;
  readonly redirectUris: readonly string[];
  readonly allowedScopes: readonly string[];
  readonly clientType: "confidential" | "public";
  readonly status: "active" | "suspended" | "deleted";
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly seq: number;
}

export interface GrantView {
  readonly grantId: string;
  readonly subject: string;
  readonly clientId: string;
  /** Null when the client is unknown to the read model. */
  readonly clientName: string | null;
  readonly scopes: readonly string[];
  readonly resources: readonly string[];
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly status: "active" | "revoked" | "expired";
  /** Why it is not active; null while active. */
  readonly statusReason: string | null;
  readonly seq: number;
}

export interface ReadModel {
  /** The token when it is active for every reason; undefined when it is not, whatever the reason. */
  introspect(hash: string, nowMs: number): ActiveToken | undefined;
  getClient(clientId: string): ClientView | undefined;
  listClients(ownerAccount: string): ClientView[];
  getGrant(grantId: string, nowMs: number): GrantView | undefined;
  listGrants(by: { subject: string } | { clientId: string }, options: { includeInactive: boolean; nowMs: number }): GrantView[];
}

/** How far the read model has applied the log, for `min_sequence` (read-your-writes). */
export interface Freshness {
  appliedSeq(): number;
  /** True once the read model has applied `seq`; false when `timeoutMs` passed first. */
  waitFor(seq: number, timeoutMs: number): Promise<boolean>;
}
