import { clientDecider } from "../domain/client/index.js";
import { requireInCatalog } from "../domain/shared/scopes.js";
import { deriveId, mintToken } from "../crypto/mint.js";
import { hashSecret } from "../crypto/secrets.js";
import type { LedgerCommandDeps } from "./deps.js";
import { execute, type CommandContext } from "./execute.js";
import { idempotent } from "./idempotent.js";

export interface RegisterClientInput {
  readonly ownerAccount: string;
  readonly name: string;
  readonly redirectUris: readonly string[];
  readonly allowedScopes: readonly string[];
  readonly clientType: "confidential" | "public";
}

export interface RegisterClientResult {
  readonly clientId: string;
  /** Empty for a public client. Shown once: only its scrypt hash is appended. */
  readonly clientSecret: string;
  readonly sequence: number;
}

export function registerClient(deps: LedgerCommandDeps, ctx: CommandContext, input: RegisterClientInput): Promise<RegisterClientResult> {
  return idempotent<RegisterClientResult, { secret: string }>(deps, ctx, "RegisterClient", input, async ({ key, fp, pending }) => {
    requireInCatalog(input.allowedScopes, deps.catalog, "allowed_scopes");
    // Derived from the request, so a retry whose first attempt did append is recognized by dedupe.
    const clientId = deriveId(deps.keyring.requestKey, "cl", key);
    const secret =
      input.clientType === "public"
        ? ""
        : (pending?.secret ?? (await deps.idempotency.reserve(key, fp, { secret: mintToken("client_secret") })).secret);
    const secretHash = secret === "" ? null : await hashSecret(secret);
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "client", id: clientId },
      decider: clientDecider,
      msgId: key,
      isNew: true,
      build: (_state, now) => ({ type: "RegisterClient" as const, now, clientId, ...input, secretHash }),
    });
    return { clientId, clientSecret: secret, sequence: outcome.seq };
  });
}

export interface ClientLifecycleInput {
  readonly clientId: string;
  readonly reason: string;
}

type Lifecycle = "SuspendClient" | "ReinstateClient" | "DeleteClient";

function changeClient(type: Lifecycle) {
  return (deps: LedgerCommandDeps, ctx: CommandContext, input: ClientLifecycleInput): Promise<{ sequence: number }> =>
    idempotent(deps, ctx, type, input, async ({ key }) => {
      const outcome = await execute(deps, ctx, {
        aggregate: { kind: "client", id: input.clientId },
        decider: clientDecider,
        msgId: key,
        build: (_state, now) => ({ type, now, clientId: input.clientId, reason: input.reason }),
      });
      return { sequence: outcome.seq };
    });
}

/** Every token the client holds becomes inactive (computed at read time). */
export const suspendClient = changeClient("SuspendClient");
export const reinstateClient = changeClient("ReinstateClient");
/** Final: the client and every token it holds are inactive for good. */
export const deleteClient = changeClient("DeleteClient");
