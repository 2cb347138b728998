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
  /** Revoke the token's whole refresh family even for an access token (a leaked token). */
  readonly wholeFamily?: boolean;
}

/** What every OAuth flow under a grant loads besides the grant: the client and the subject's watermark. */
export interface IssuingContext {
  readonly now: number;
  /** The grant's client, loaded (and, where the flow needs it, authenticated) by the caller. */
  readonly client: ClientState;
  /** The subject's "revoked before" watermark as IssueTokens takes it; null when never revoked. */
  readonly subjectRevokedAt: number | null;
}

/** RFC 6749 §4.1 + RFC 7636: a single-use code bound to a redirect URI and (S256) PKCE challenge. */
export interface IssueAuthorizationCode extends IssuingContext {
  readonly type: "IssueAuthorizationCode";
  readonly codeId: string;
  readonly hash: string;
  readonly ttlMs: number;
  readonly redirectUri: string;
  /** base64url(SHA-256(verifier)); required for public clients. */
  readonly codeChallenge: string | null;
  /** A subset of the grant's effective scopes; empty means all of them. */
  readonly scopes: readonly string[];
}

export interface RedeemAuthorizationCode extends IssuingContext {
  readonly type: "RedeemAuthorizationCode";
  readonly codeId: string;
  readonly redirectUri: string;
  /** base64url(SHA-256(code_verifier)) computed by the caller (the domain does no crypto); null without a verifier. */
  readonly verifierChallenge: string | null;
  readonly access: MintedToken;
  /** Used when the code's scopes include `offline_access`. */
  readonly refresh: MintedToken;
}

/** RFC 6749 §6 with rotation (RFC 9700 §4.14.2). */
export interface RefreshTokens extends IssuingContext {
  readonly type: "RefreshTokens";
  /** The presented refresh token's id (found by its hash). */
  readonly tokenId: string;
  /** Narrower scopes (a subset of the presented token's); empty keeps them. */
  readonly scopes: readonly string[];
  readonly access: MintedToken;
  readonly refresh: MintedToken;
  /**
   * Set by the caller when a consumed token may be answered with its successor instead of counting
   * as reuse (grace period: see `graceSuccessor`, plus a reuse budget and the successor's stashed
   * plaintext, which only the caller can check); null otherwise.
   */
  readonly graceSuccessorId: string | null;
}

/** RFC 6749 §4.4: a token for the (authenticated, confidential) client itself, on its own grant. */
export interface IssueClientCredentials {
  readonly type: "IssueClientCredentials";
  readonly now: number;
  readonly client: ClientState;
  /** The client's own grant id (derived from the client id by the caller). */
  readonly grantId: string;
  /** A subset of the client's allowed scopes; empty means all of them. */
  readonly scopes: readonly string[];
  readonly access: MintedToken;
}

/** Re-consent: the grant's scopes become `scopes` (within the client's allowed scopes). */
export interface UpdateGrantScopes {
  readonly type: "UpdateGrantScopes";
  readonly now: number;
  readonly client: ClientState;
  readonly scopes: readonly string[];
}

export type GrantCommand =
  | CreateGrant
  | RevokeGrant
  | IssueTokens
  | RevokeToken
  | IssueAuthorizationCode
  | RedeemAuthorizationCode
  | RefreshTokens
  | IssueClientCredentials
  | UpdateGrantScopes;
