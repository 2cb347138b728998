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
} as const;

export type IssuedToken = z.infer<typeof issuedToken>;
type Schemas = typeof grantEventSchemas;
export type GrantEventType = keyof Schemas;
export type GrantEvent = { [K in GrantEventType]: { type: K; data: z.infer<Schemas[K]> } }[GrantEventType];
