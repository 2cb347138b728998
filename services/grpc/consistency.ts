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
