import { clientDecider } from "../domain/client/index.js";
import { grantDecider } from "../domain/grant/index.js";
import { requireInCatalog } from "../domain/shared/scopes.js";
import { deriveId } from "../crypto/mint.js";
import type { LedgerCommandDeps } from "./deps.js";
import { execute, type CommandContext } from "./execute.js";
import { idempotent } from "./idempotent.js";

export interface CreateGrantInput {
  readonly subject: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly resources: readonly string[];
  /** Epoch milliseconds; null for a grant that does not expire. */
  readonly expiresAt: number | null;
}

export function createGrant(
  deps: LedgerCommandDeps,
  ctx: CommandContext,
  input: CreateGrantInput,
): Promise<{ grantId: string; sequence: number }> {
  return idempotent(deps, ctx, "CreateGrant", input, async ({ key }) => {
    const grantId = deriveId(deps.keyring.requestKey, "gr", key);
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "grant", id: grantId },
      decider: grantDecider,
      msgId: key,
      isNew: true,
      build: async (_state, now) => {
        // The client's state is read fresh for each decision; the read-time cascade covers a
        // client suspended between this read and the append.
        const client = await deps.aggregates.load({ kind: "client", id: input.clientId }, clientDecider);
        return { type: "CreateGrant" as const, now, grantId, ...input, client: client.state };
      },
    });
    return { grantId, sequence: outcome.seq };
  });
}

/** Re-consent: the grant's scopes become `scopes`; issued tokens keep at most these (read time). */
export function updateGrantScopes(
  deps: LedgerCommandDeps,
  ctx: CommandContext,
  input: { readonly grantId: string; readonly scopes: readonly string[] },
): Promise<{ sequence: number; scopes: readonly string[] }> {
  return idempotent(deps, ctx, "UpdateGrantScopes", input, async ({ key }) => {
    requireInCatalog(input.scopes, deps.catalog, "scopes");
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "grant", id: input.grantId },
      decider: grantDecider,
      msgId: key,
      build: async (grant, now) => ({
        type: "UpdateGrantScopes" as const,
        now,
        client: (await deps.aggregates.load({ kind: "client", id: grant.clientId }, clientDecider)).state,
        scopes: input.scopes,
      }),
    });
    return { sequence: outcome.seq, scopes: outcome.state.scopes };
  });
}
