import { unavailable } from "../domain/shared/errors.js";
import type { Freshness } from "./read-model.js";

/**
 * Read-your-writes: a query carrying the sequence a command returned waits (bounded) until the read
 * model has applied it, and fails UNAVAILABLE rather than answer from older data.
 */
export async function awaitSequence(freshness: Freshness, minSequence: number | undefined, timeoutMs: number): Promise<void> {
  if (minSequence === undefined || minSequence <= freshness.appliedSeq()) return;
  if (await freshness.waitFor(minSequence, timeoutMs)) return;
  throw unavailable(
    `read model has applied sequence ${freshness.appliedSeq()}, not min_sequence ${minSequence}, within ${timeoutMs} ms; retry`,
    { field: "min_sequence", oauthCode: "temporarily_unavailable" },
  );
}

/**
 * Whether this process can confirm its read model is within the configured lag of the log
 * (services/app/staleness.ts implements it).
 */
export interface Staleness {
  readonly maxStalenessMs: number;
  /** How old the last confirmation is, ms (Infinity before the first). */
  stalenessMs(): number;
  /** True while the last confirmation is within the bound (no waiting). */
  isFresh(): boolean;
  /** True when fresh now, or once fresh within `timeoutMs`. */
  waitFresh(timeoutMs: number): Promise<boolean>;
}

/**
 * True when a query may answer right away: no `min_sequence` beyond what the read model applied and
 * the read model within its staleness bound. The hot path's check: when false, take the waits
 * ({@link awaitSequence}, {@link assertFresh}), which decide the same things with a bounded wait.
 */
export const readableNow = (freshness: Freshness, minSequence: number | undefined, staleness: Staleness | undefined): boolean =>
  (minSequence === undefined || minSequence <= freshness.appliedSeq()) && (staleness === undefined || staleness.isFresh());

/**
 * Fail closed: a read model that cannot confirm it is within the bound of the log answers
 * UNAVAILABLE rather than risk calling a revoked token active. Waits `graceMs` for the next check
 * first (a request right after start-up or a short blip).
 */
export async function assertFresh(staleness: Staleness | undefined, graceMs: number): Promise<void> {
  if (staleness === undefined || (await staleness.waitFresh(graceMs))) return;
  const age = staleness.stalenessMs();
  throw unavailable(
    `read model cannot confirm it is within ${staleness.maxStalenessMs} ms of the log ` +
      `(last confirmed ${Number.isFinite(age) ? `${Math.round(age)} ms ago` : "never"}); retry`,
    { oauthCode: "temporarily_unavailable" },
  );
}
