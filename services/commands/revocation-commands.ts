import { clientDecider } from "../domain/client/index.js";
import { grantDecider } from "../domain/grant/index.js";
import { subjectDecider } from "../domain/subject/index.js";
import { parseTokenKind } from "../domain/shared/token-format.js";
import { hashToken } from "../crypto/keys.js";
import type { KnownToken, LedgerCommandDeps } from "./deps.js";
import { execute, type CommandContext } from "./execute.js";
import { idempotent } from "./idempotent.js";

export interface RevokeTokenInput {
  readonly token: string;
  readonly tokenTypeHint?: string | undefined;
  readonly clientId?: string | undefined;
}

/** The answer to every RevokeToken that changes nothing: RFC 7009 §2.2 says OK. */
const NOTHING = { sequence: 0 } as const;

/**
 * RFC 7009 revocation, as named steps: validate the format (no lookup for garbage) → wait until the
 * read model holds every token issued before this request → find the token's grant → check the
 * calling client owns it → decide on the grant → append. Unknown and foreign tokens answer OK.
 */
export function revokeToken(deps: LedgerCommandDeps, ctx: CommandContext, input: RevokeTokenInput): Promise<{ sequence: number }> {
  return idempotent(deps, ctx, "RevokeToken", { token: hashToken(deps.keyring.stable, input.token), clientId: input.clientId }, async ({ key }) => {
    const kind = parseTokenKind(input.token);
    if (kind !== "access_token" && kind !== "refresh_token") return NOTHING;
    await deps.lookup.catchUpToHead();
    const known = findByAnyKey(deps, input.token);
    if (known === undefined) return NOTHING;
    if (input.clientId !== undefined && input.clientId !== known.clientId) return NOTHING;
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "grant", id: known.grantId },
      decider: grantDecider,
      msgId: key,
      build: (_state, now) => ({
        type: "RevokeToken" as const,
        now,
        tokenId: known.tokenId,
        reason: known.kind === "refresh_token" ? "refresh token revoked by request" : "access token revoked by request",
      }),
    });
    return { sequence: outcome.seq };
  });
}

/**
 * A token reported as leaked (secret-scanning partners): format and checksum first (garbage costs
 * no lookup) → catch up with the log → find it → revoke it with its whole refresh family, the event
 * saying it was reported as leaked. Unknown, malformed and already revoked tokens change nothing;
 * the RPC answers all of them the same way.
 */
export function revokeLeakedToken(deps: LedgerCommandDeps, ctx: CommandContext, input: { readonly token: string }): Promise<{ sequence: number }> {
  return idempotent(deps, ctx, "RevokeLeakedToken", { token: hashToken(deps.keyring.stable, input.token) }, async ({ key }) => {
    const kind = parseTokenKind(input.token);
    if (kind !== "access_token" && kind !== "refresh_token") return NOTHING;
    await deps.lookup.catchUpToHead();
    const known = findByAnyKey(deps, input.token);
    if (known === undefined) return NOTHING;
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "grant", id: known.grantId },
      decider: grantDecider,
      msgId: key,
      build: (_state, now) => ({
        type: "RevokeToken" as const,
        now,
        tokenId: known.tokenId,
        reason: `${known.kind === "refresh_token" ? "refresh" : "access"} token reported as leaked`,
        wholeFamily: true,
      }),
    });
    return { sequence: outcome.seq };
  });
}

function findByAnyKey(deps: LedgerCommandDeps, token: string): KnownToken | undefined {
  for (const key of deps.keyring.verifying) {
    const found = deps.lookup.findToken(hashToken(key, token));
    if (found !== undefined) return found;
  }
  return undefined;
}

export function revokeGrant(
  deps: LedgerCommandDeps,
  ctx: CommandContext,
  input: { readonly grantId: string; readonly reason: string },
): Promise<{ sequence: number }> {
  return idempotent(deps, ctx, "RevokeGrant", input, async ({ key }) => {
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "grant", id: input.grantId },
      decider: grantDecider,
      msgId: key,
      build: (_state, now) => ({ type: "RevokeGrant" as const, now, reason: input.reason }),
    });
    return { sequence: outcome.seq };
  });
}

/** One watermark event: every grant and token of the user recorded before it is inactive. */
export function revokeSubject(
  deps: LedgerCommandDeps,
  ctx: CommandContext,
  input: { readonly subject: string; readonly reason: string },
): Promise<{ sequence: number }> {
  return idempotent(deps, ctx, "RevokeSubject", input, async ({ key }) => {
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "subject", id: input.subject },
      decider: subjectDecider,
      msgId: key,
      build: (_state, now) => ({ type: "RevokeSubject" as const, now, subject: input.subject, reason: input.reason }),
    });
    return { sequence: outcome.seq };
  });
}

/**
 * One watermark event on the client: every token family it holds so far (and every code not yet
 * redeemed) is inactive; the client stays active and new tokens are live.
 */
export function revokeClientTokens(
  deps: LedgerCommandDeps,
  ctx: CommandContext,
  input: { readonly clientId: string; readonly reason: string },
): Promise<{ sequence: number }> {
  return idempotent(deps, ctx, "RevokeClientTokens", input, async ({ key }) => {
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "client", id: input.clientId },
      decider: clientDecider,
      msgId: key,
      build: (_state, now) => ({ type: "RevokeClientTokens" as const, now, reason: input.reason }),
    });
    return { sequence: outcome.seq };
  });
}
