import { z } from "zod";

/** Events of the client aggregate (an OAuth app), on subject `ledger.client.<clientId>`. */
export const clientEventSchemas = {
  "client.registered": z.object({
    clientId: z.string(),
    ownerAccount: z.string(),
    name: z.string(),
    redirectUris: z.array(z.string()),
    allowedScopes: z.array(z.string()),
    clientType: z.enum(["confidential", "public"]),
    /** scrypt hash of the client secret (`scrypt$N$r$p$salt$hash`); null for public clients. */
    secretHash: z.string().nullable(),
  }),
  "client.suspended": z.object({ clientId: z.string(), reason: z.string() }),
  "client.reinstated": z.object({ clientId: z.string(), reason: z.string() }),
  "client.deleted": z.object({ clientId: z.string(), reason: z.string() }),
  /** The app's registration as it stands after an UpdateClient: every field, not a diff. */
  "client.updated": z.object({
    clientId: z.string(),
    name: z.string(),
    redirectUris: z.array(z.string()),
    /** Narrowing them narrows every grant's effective scopes at read time. */
    allowedScopes: z.array(z.string()),
  }),
  "client.secret_rotated": z.object({
    clientId: z.string(),
    /** scrypt hash of the new secret. */
    secretHash: z.string(),
    /** Epoch ms until which the previous secret still authenticates; null: it stops at once. */
    previousSecretValidUntil: z.number().int().nullable(),
  }),
  /** A watermark: every token family of the client started at or before it is inactive. */
  "client.tokens_revoked": z.object({ clientId: z.string(), reason: z.string(), /** Epoch ms. */ revokedAt: z.number().int() }),
} as const;

type Schemas = typeof clientEventSchemas;
export type ClientEventType = keyof Schemas;
export type ClientEvent = { [K in ClientEventType]: { type: K; data: z.infer<Schemas[K]> } }[ClientEventType];
