import { createGrant, registerClient } from "../../../services/commands/index.js";
import type { Process } from "./harness.js";
import { ctx } from "./harness.js";

/** Registers a client and creates a grant under it through `p`; returns their ids. */
export async function clientAndGrant(p: Process, scopes = ["zone:read", "dns:read", "offline_access"]): Promise<{ clientId: string; grantId: string; grantSeq: number }> {
  const client = await registerClient(p.deps, ctx(), {
    ownerAccount: "acct-1",
    name: "App",
    redirectUris: ["https://app.example/cb"],
    allowedScopes: scopes,
    clientType: "public",
  });
  const grant = await createGrant(p.deps, ctx(), {
    subject: "user-1",
    clientId: client.clientId,
    scopes,
    resources: ["acct:1"],
    expiresAt: null,
  });
  return { clientId: client.clientId, grantId: grant.grantId, grantSeq: grant.sequence };
}

export const issueInput = (grantId: string, includeRefreshToken = true) => ({
  grantId,
  scopes: ["zone:read"],
  includeRefreshToken,
});
