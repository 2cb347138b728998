import type { EventLog } from "../../services/eventlog/types.js";
import type { Projection } from "./projection.js";
import { startProjection, type ProjectionRunner } from "./runner.js";

/** How far a copy being built is, reported about once per `progressEveryMs`. */
export interface CopyProgress {
  readonly appliedSeq: number;
  /** The log's head as last read. */
  readonly head: number;
  /** Messages applied per second over the last interval (the first reports the whole run). */
  readonly eventsPerSecond: number;
  /** At that rate, until the head as last read; null before a rate is known. */
  readonly etaSeconds: number | null;
  readonly elapsedMs: number;
}

/** Options of {@link buildCopy}. */
export interface BuildCopyOptions {
  readonly log: EventLog;
  readonly projection: Projection;
  /** The new file (created, or resumed from its checkpoint when a rebuild was interrupted). */
  readonly file: string;
  /** Stops the build and the runner. */
  readonly signal: AbortSignal;
  readonly batchSize?: number;
  /** Default 1000. */
  readonly progressEveryMs?: number;
  readonly onProgress?: (progress: CopyProgress) => void;
}

/**
 * Builds a projection into `file` from its checkpoint (sequence 1 for a new file) until it has
 * applied the log's head as read after the last batch, and returns the runner still running, so
 * the caller can hand it over to serving (or stop it and let another process resume the file).
 * Rejects when the runner fails (the file keeps what it committed) or `signal` aborts.
 */
export async function buildCopy(options: BuildCopyOptions): Promise<ProjectionRunner> {
  const { log, signal } = options;
  const everyMs = Math.max(50, options.progressEveryMs ?? 1000);
  const runner = startProjection({
    log,
    projection: options.projection,
    file: options.file,
    signal,
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
  });
  // Awaited below when the runner stops early; marked handled so a failure is not also unhandled.
  runner.done.catch(() => undefined);
  const started = Date.now();
  let lastAt = started;
  let lastSeq = runner.appliedSeq;
  let rate = 0;
  try {
    for (;;) {
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("rebuild aborted");
      const head = await log.headSequence();
      const reached = runner.appliedSeq >= head || (await runner.waitFor(head, everyMs));
      if (!runner.running) {
        await runner.done;
        throw new Error(`the ${options.projection.name} runner stopped before reaching the head`);
      }
      const now = Date.now();
      const applied = runner.appliedSeq;
      if (now > lastAt) {
        const recent = ((applied - lastSeq) * 1000) / (now - lastAt);
        rate = rate === 0 ? recent : 0.5 * rate + 0.5 * recent;
      }
      lastAt = now;
      lastSeq = applied;
      options.onProgress?.({
        appliedSeq: applied,
        head,
        eventsPerSecond: Math.round(rate),
        etaSeconds: reached ? 0 : rate > 0 ? Math.max(0, (head - applied) / rate) : null,
        elapsedMs: now - started,
      });
      if (reached) return runner;
    }
  } catch (error) {
    await runner.stop();
    throw error;
  }
}
