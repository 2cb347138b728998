import { z } from "zod";

const issuedToken = z.object({
  /** Token id (`jti`); never the token itself. */
  tokenId: z.string(),
  kind: z.enum(["access_token", "refresh_token"]),
  /** Keyed hash of the token: `<keyId>:<base64url HMAC-SHA-256>`. */
  hash: z.string(),
  /** Tokens issued together (an access token with its refresh token) share a family; revoking the
   * refresh token revokes its family. */
  familyId: z.string(),
  scopes: z.array(z.string()),
  /** Epoch milliseconds. */
  issuedAt: z.number().int(),
  expiresAt: z.number().int(),
});

/**
 * Events of the grant aggregate (a user's consent), on subject `ledger.grant.<grantId>`. Token events
 * live here too, so issuing under a grant and revoking it are serialized by the log itself.
 */
export const grantEventSchemas = {
  "grant.created": z.object({
    grantId: z.string(),
    subject: z.string(),
    clientId: z.string(),
    scopes: z.array(z.string()),
    resources: z.array(z.string()),
    /** Epoch milliseconds; null for a grant that does not expire. */
    expiresAt: z.number().int().nullable(),
    /** Epoch milliseconds. */
    createdAt: z.number().int(),
  }),
  "grant.revoked": z.object({ grantId: z.string(), reason: z.string() }),
  "token.issued": z.object({ grantId: z.string(), tokens: z.array(issuedToken).min(1) }),
  "token.revoked": z.object({
    grantId: z.string(),
    /** Tokens revoked one by one. */
    tokenIds: z.array(z.string()),
    /** Families revoked whole (every token in them, issued or still to be rotated in). */
    familyIds: z.array(z.string()),
    reason: z.string(),
  }),
  /**
   * The client's own grant, for client-credentials tokens: its subject is the client itself, its
   * scopes follow the client's allowed scopes. Only ClientCredentials issues under it.
   */
  "grant.created_for_client": z.object({
    grantId: z.string(),
    clientId: z.string(),
    scopes: z.array(z.string()),
    /** Epoch milliseconds. */
    createdAt: z.number().int(),
  }),
  /** Re-consent: the grant's scopes from now on. Tokens keep at most these (read-time intersection). */
  "grant.scopes_updated": z.object({ grantId: z.string(), scopes: z.array(z.string()) }),
  /** An authorization code (RFC 6749 §4.1, PKCE RFC 7636): only its keyed hash, single use. */
  "code.issued": z.object({
    grantId: z.string(),
    codeId: z.string(),
    /** Keyed hash of the code: `<keyId>:<base64url HMAC-SHA-256>`. */
    hash: z.string(),
    redirectUri: z.string(),
    /** base64url(SHA-256(code_verifier)); null when the (confidential) client sent none. */
    codeChallenge: z.string().nullable(),
    codeChallengeMethod: z.enum(["S256"]).nullable(),
    scopes: z.array(z.string()),
    issuedAt: z.number().int(),
    expiresAt: z.number().int(),
  }),
  /** The code's one redemption and the tokens it issued (one family). */
  "code.redeemed": z.object({ grantId: z.string(), codeId: z.string(), tokens: z.array(issuedToken).min(1) }),
  /** One rotation: the presented refresh token is consumed, its successors join its family. */
  "refresh.rotated": z.object({ grantId: z.string(), consumedTokenId: z.string(), tokens: z.array(issuedToken).min(1) }),
  /** A consumed refresh token was presented again: its whole family is revoked. */
  "refresh.reuse_detected": z.object({ grantId: z.string(), tokenId: z.string(), familyId: z.string(), reason: z.string() }),
} as const;

export type IssuedToken = z.infer<typeof issuedToken>;
type Schemas = typeof grantEventSchemas;
export type GrantEventType = keyof Schemas;
export type GrantEvent = { [K in GrantEventType]: { type: K; data: z.infer<Schemas[K]> } }[GrantEventType];
