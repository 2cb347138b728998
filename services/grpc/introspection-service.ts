import { z } from "zod";
import type {
  IntrospectBatchRequest,
  IntrospectionServiceServer,
  IntrospectResponse,
} from "../gen/grantledger/v1/introspection_service.js";
import { parseTokenKind } from "../domain/shared/token-format.js";
import { hashToken } from "../crypto/keys.js";
import { servesAny } from "../security/policy.js";
import { minSequence } from "./fields.js";
import { ActiveTokenCache } from "./active-tokens.js";
import { assertFresh, awaitSequence, readableNow } from "./consistency.js";
import { unary, type RpcContext } from "./handler.js";
import type { ActiveToken } from "./read-model.js";
import type { GrpcDeps } from "./services.js";

/** One frozen answer for every inactive case, so no field can tell unknown from revoked from garbage. */
const INACTIVE: IntrospectResponse = Object.freeze({
  active: false,
  scope: "",
  clientId: "",
  sub: "",
  exp: 0,
  iat: 0,
  tokenType: "",
  jti: "",
  grantId: "",
  resources: [],
});

/** Tokens per IntrospectBatch call: 1000 of today's ~55-character tokens are ~60 KB, far below the 1 MiB message limit. */
export const MAX_BATCH_TOKENS = 1000;

const token = z.string().min(1, "token is required").max(4096, "token is longer than 4096 characters");
const tokenTypeHint = z.string().max(64).optional();

const schema = z.object({ token, tokenTypeHint, minSequence });

const batchSchema = z.object({
  tokens: z
    .array(token)
    .min(1, "at least one token is required")
    .max(MAX_BATCH_TOKENS, `at most ${MAX_BATCH_TOKENS} tokens per call; send several calls`),
  tokenTypeHint,
  minSequence,
});

/**
 * A batch takes one rate-limit token per introspected token (as many single calls would), counted
 * before validation; an oversized batch is refused by validation, so it costs at most the maximum.
 */
const batchCost = (request: IntrospectBatchRequest): number =>
  Math.min(MAX_BATCH_TOKENS, Math.max(1, Array.isArray(request.tokens) ? request.tokens.length : 0));

const active = (t: ActiveToken): IntrospectResponse => ({
  active: true,
  scope: t.scope,
  clientId: t.clientId,
  sub: t.subject,
  exp: Math.floor(t.expiresAt / 1000),
  iat: Math.floor(t.issuedAt / 1000),
  tokenType: t.kind,
  jti: t.tokenId,
  grantId: t.grantId,
  resources: [...t.resources],
});

/**
 * RFC 7662 over gRPC, answered from the read model only (never the log, never a write). Every
 * inactive path does the same work here, so timing does not tell malformed from unknown from
 * revoked: one keyed hash and one point lookup per verifying key, always all of them (no early exit
 * on a hit, none on a bad checksum). A malformed token is looked up under a hash that cannot exist
 * (no key id holds a `!`) and whatever comes back is ignored. A resource-hidden token still costs
 * the read model building its row (README, Security: the remaining gap).
 */
export function introspectionService(deps: GrpcDeps): IntrospectionServiceServer {
  const introspector = tokenIntrospector(deps);
  const answer = (token: string, now: number, ctx: RpcContext): IntrospectResponse => {
    const found = introspector(token, now, ctx.caller.resources);
    return found === undefined ? INACTIVE : active(found);
  };
  /** The request-level waits both RPCs take before any lookup; a failure fails the whole call. */
  const readable = async (minSequence: number | undefined): Promise<void> => {
    await awaitSequence(deps.freshness, minSequence, deps.minSequenceWaitMs);
    // After the min_sequence wait: that may be what brings the read model back within the bound.
    await assertFresh(deps.staleness, Math.min(deps.minSequenceWaitMs, 1000));
  };
  /**
   * Answers synchronously when there is nothing to wait for (the common case: no promise, no
   * microtask per call); otherwise after the waits, which decide the same things.
   */
  const whenReadable = <T>(minSequence: number | undefined, respond: () => T): T | Promise<T> =>
    readableNow(deps.freshness, minSequence, deps.staleness) ? respond() : readable(minSequence).then(respond);
  /**
   * The sequence the answer reflects. Call it in the same synchronous step as the lookups (no await
   * between: a resumed await could let the projector commit first): exact when the projector runs in
   * this process, a lower bound for a reader of another process's file. Clients check their answers
   * against it (`gl-sequence` trailer).
   */
  const stamp = (ctx: RpcContext): void => ctx.setTrailer?.("gl-sequence", String(deps.freshness.appliedSeq()));
  return {
    introspect: unary(deps.logger, "Introspect", schema, (input, ctx) =>
      whenReadable(input.minSequence, () => {
        stamp(ctx);
        return answer(input.token, ctx.now(), ctx);
      }),
    ),
    // One clock reading for the whole batch: every token is judged at the same instant, as of the
    // one applied sequence stamped (the lookups run in one synchronous loop).
    introspectBatch: unary(
      deps.logger,
      "IntrospectBatch",
      batchSchema,
      (input, ctx) =>
        whenReadable(input.minSequence, () => {
          stamp(ctx);
          const now = ctx.now();
          return { results: input.tokens.map((t) => answer(t, now, ctx)) };
        }),
      { cost: batchCost },
    ),
  };
}

/**
 * The introspection decision, shared by the gRPC service and the HTTP endpoint (services/http):
 * the token when it is active and visible to a caller restricted to `allowed` resources
 * (undefined: unrestricted), else undefined — whatever the reason, with the same work done.
 *
 * Active answers are remembered for the read model's current applied position
 * ({@link ActiveTokenCache}): a repeat introspection of an active token skips the point lookup
 * while nothing new is projected. Only an answer given as active and visible skips it: when the
 * answer is inactive (a hidden token, a kind that does not match), the lookups the cache saved are
 * made anyway, so every inactive answer still costs one keyed hash and one lookup per verifying key.
 */
export function tokenIntrospector(deps: Pick<GrpcDeps, "keyring" | "readModel" | "freshness">) {
  const { keyring, readModel } = deps;
  const cache = new ActiveTokenCache(() => deps.freshness.appliedSeq());
  /** `appliedSeq`: the read model's position if the caller read it in this same synchronous step. */
  return (token: string, now: number, allowed: readonly string[] | undefined, appliedSeq?: number): ActiveToken | undefined => {
    const kind = parseTokenKind(token);
    const wellFormed = kind === "access_token" || kind === "refresh_token";
    // The position first, then the lookups, in one synchronous step: an answer read here is
    // remembered for a position at or before the data it was read from.
    cache.sync(appliedSeq);
    let hit: ActiveToken | undefined;
    let skipped: string[] | undefined;
    for (const key of keyring.verifying) {
      const hash = hashToken(key, token);
      const cached = wellFormed ? cache.get(hash, now) : undefined;
      if (cached !== undefined) {
        hit ??= cached;
        (skipped ??= []).push(hash);
        continue;
      }
      const found = readModel.introspect(wellFormed ? hash : `!${hash}`, now);
      if (found !== undefined && wellFormed) cache.set(hash, found);
      hit ??= found;
    }
    const found = wellFormed && hit?.kind === kind ? hit : undefined;
    // A caller restricted to some resources sees any other token exactly like an unknown one
    // (checked for an unknown one too, against no resources: the same steps either way).
    const visible = allowed === undefined || servesAny(allowed, found?.resources ?? []);
    if (visible && found !== undefined) return found;
    if (skipped !== undefined) for (const hash of skipped) readModel.introspect(hash, now);
    return undefined;
  };
}
