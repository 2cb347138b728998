import { isDomainError } from "../domain/shared/errors.js";
import { pause, type CommandContext } from "./execute.js";
import { AlreadyAnswered, fingerprint } from "./idempotency.js";
import type { LedgerCommandDeps } from "./deps.js";

/** What one attempt of an idempotent command gets to work with. */
export interface Attempt<P> {
  /** msgId and idempotency key of this request. */
  readonly key: string;
  readonly fp: string;
  /** Values a previous attempt of the same request minted, if any. */
  readonly pending: P | undefined;
}

/**
 * Only failures this quick are ridden out: while a cluster elects a stream leader, requests fail at
 * once ("no responders", "JetStream not enabled"); a request that timed out is an outage, reported.
 */
const QUICK_FAILURE_MS = 1_000;

/**
 * Runs `command` at most once in effect per (actor, command, request_id): a recorded answer is
 * returned as is, otherwise `run` decides and appends (with the key as msgId) and its answer is
 * recorded.
 *
 * Quick UNAVAILABLE failures (a leader election, a reconnect) are retried here for up to
 * `deps.unavailableRetryMs`, with backoff: the retry is the same request (same msgId, same
 * recorded answer), exactly what a caller's retry would be, so the caller sees success or one clear
 * UNAVAILABLE, never a double effect.
 */
export function idempotent<R, P = never>(
  deps: LedgerCommandDeps,
  ctx: CommandContext,
  command: string,
  input: unknown,
  run: (attempt: Attempt<P>) => Promise<R>,
): Promise<R> {
  return withUnavailableRetries(deps, () => once(deps, ctx, command, input, run));
}

/** Rides out quick UNAVAILABLE failures of `attempt` for up to `deps.unavailableRetryMs`, with backoff. */
async function withUnavailableRetries<R>(deps: LedgerCommandDeps, attempt: () => Promise<R>): Promise<R> {
  const started = Date.now();
  for (let tries = 1; ; tries++) {
    const attemptStarted = Date.now();
    try {
      return await attempt();
    } catch (error) {
      const quick = Date.now() - attemptStarted < QUICK_FAILURE_MS;
      const wait = Math.min(500, 25 * 2 ** tries) * (0.5 + Math.random() / 2);
      const withinBudget = Date.now() - started + wait <= (deps.unavailableRetryMs ?? 0);
      if (!(isDomainError(error) && error.kind === "unavailable" && quick && withinBudget)) throw error;
      await pause(wait);
    }
  }
}

/** What one attempt of a command that mints its secrets up front gets: the values minted for this request. */
export interface MintedAttempt<P> {
  readonly key: string;
  readonly fp: string;
  /** This request's values: minted now, or those a previous (or concurrent) attempt recorded first. */
  readonly minted: P;
}

/**
 * {@link idempotent} for a command whose first step mints values that a retry must see again
 * (tokens, codes, secrets): the recorded answer, or the first attempt's values, come with the
 * one KV `create` that records this attempt's values (see {@link Idempotency.claim}), instead of a
 * `get` then a `create`. The values are minted on every attempt and dropped when a record exists:
 * a few random bytes against a round trip saved on every new request.
 */
export function idempotentMinting<R, P>(
  deps: LedgerCommandDeps,
  ctx: CommandContext,
  command: string,
  input: unknown,
  mint: () => P,
  run: (attempt: MintedAttempt<P>) => Promise<R>,
): Promise<R> {
  return withUnavailableRetries(deps, async () => {
    const key = deps.idempotency.keyFor(ctx.actor, command, ctx.requestId);
    const fp = fingerprint(input);
    const claimed = await deps.idempotency.claim<P, R>(key, fp, mint());
    if ("response" in claimed) return claimed.response;
    const response = await run({ key, fp, minted: claimed.pending });
    deps.idempotency.remember(key, fp, response);
    return response;
  });
}

async function once<R, P>(
  deps: LedgerCommandDeps,
  ctx: CommandContext,
  command: string,
  input: unknown,
  run: (attempt: Attempt<P>) => Promise<R>,
): Promise<R> {
  const key = deps.idempotency.keyFor(ctx.actor, command, ctx.requestId);
  const fp = fingerprint(input);
  const recalled = await deps.idempotency.recall<P, R>(key, fp);
  if (recalled?.response !== undefined) return recalled.response;
  let response: R;
  try {
    response = await run({ key, fp, pending: recalled?.pending });
  } catch (error) {
    if (error instanceof AlreadyAnswered) return error.response as R;
    throw error;
  }
  deps.idempotency.remember(key, fp, response);
  return response;
}
