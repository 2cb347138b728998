import { clientDecider } from "../domain/client/index.js";
import { requireInCatalog } from "../domain/shared/scopes.js";
import { deriveId, mintToken } from "../crypto/mint.js";
import { hashSecret } from "../crypto/secrets.js";
import type { LedgerCommandDeps } from "./deps.js";
import { execute, type CommandContext } from "./execute.js";
import { idempotent, idempotentMinting } from "./idempotent.js";

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

export interface UpdateClientInput {
  readonly clientId: string;
  /** Each field left undefined keeps its current value. */
  readonly name?: string | undefined;
  readonly redirectUris?: readonly string[] | undefined;
  readonly allowedScopes?: readonly string[] | undefined;
}

/** Narrowing `allowedScopes` narrows every grant's effective scopes at read time (no per-grant event). */
export function updateClient(deps: LedgerCommandDeps, ctx: CommandContext, input: UpdateClientInput): Promise<{ sequence: number }> {
  return idempotent(deps, ctx, "UpdateClient", input, async ({ key }) => {
    if (input.allowedScopes !== undefined) requireInCatalog(input.allowedScopes, deps.catalog, "allowed_scopes");
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "client", id: input.clientId },
      decider: clientDecider,
      msgId: key,
      build: (_state, now) => ({ type: "UpdateClient" as const, now, ...input }),
    });
    return { sequence: outcome.seq };
  });
}

export interface RotateClientSecretResult {
  /** Shown once: only its scrypt hash is appended. */
  readonly clientSecret: string;
  readonly sequence: number;
  /** Epoch ms until which the previous secret still works; null when it stopped at once. */
  readonly previousSecretExpiresAt: number | null;
}

/** A new secret for a confidential client; the old one keeps working for `overlapSeconds` (0: not at all). */
export function rotateClientSecret(
  deps: LedgerCommandDeps,
  ctx: CommandContext,
  input: { readonly clientId: string; readonly overlapSeconds: number },
): Promise<RotateClientSecretResult> {
  const mint = (): { secret: string } => ({ secret: mintToken("client_secret") });
  return idempotentMinting<RotateClientSecretResult, { secret: string }>(deps, ctx, "RotateClientSecret", input, mint, async ({ key, minted: { secret } }) => {
    const secretHash = await hashSecret(secret);
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "client", id: input.clientId },
      decider: clientDecider,
      msgId: key,
      build: (_state, now) => ({ type: "RotateClientSecret" as const, now, secretHash, overlapMs: input.overlapSeconds * 1000 }),
    });
    const rotated = outcome.events.find((e) => e.type === "client.secret_rotated");
    const validUntil = rotated === undefined ? outcome.state.previousSecretValidUntil : rotated.data.previousSecretValidUntil;
    return { clientSecret: secret, sequence: outcome.seq, previousSecretExpiresAt: validUntil };
  });
}
