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
} as const;

type Schemas = typeof clientEventSchemas;
export type ClientEventType = keyof Schemas;
export type ClientEvent = { [K in ClientEventType]: { type: K; data: z.infer<Schemas[K]> } }[ClientEventType];
