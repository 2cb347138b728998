import type { Database } from "better-sqlite3";
import type { EventLog, RecordedEnvelope } from "../../services/eventlog/types.js";
import { type Projection, ProjectionApplyError, ProjectionVersionError } from "./projection.js";
import { CHECKPOINT_SCHEMA, openProjectionDatabase, readCheckpoint } from "./sqlite.js";
import { SequenceWaiters } from "./waiters.js";

/** Reported after every committed batch. */
export interface AppliedBatch {
  /** First and last stream sequence in the batch. */
  readonly fromSeq: number;
  readonly toSeq: number;
  /** Envelopes applied (messages, not events). */
  readonly count: number;
}

/** Options of {@link startProjection}. */
export interface StartProjectionOptions {
  readonly log: EventLog;
  readonly projection: Projection;
  /** The SQLite file (created if missing); `:memory:` works for one-process tests. */
  readonly file: string;
  /**
   * Envelopes per transaction at most (default 2048). Live, a quiet stream flushes sooner, on the
   * next tick; while catching up, batches fill up (see {@link startProjection}).
   */
  readonly batchSize?: number;
  /** Stops the runner; envelopes already received are committed first. */
  readonly signal: AbortSignal;
  /** Called after each commit. Throwing from it stops the runner with that error. */
  readonly onApplied?: (batch: AppliedBatch) => void;
  /**
   * Called once with the error that stopped the runner. When given, {@link ProjectionRunner.done}
   * is marked handled (no unhandled rejection); otherwise the caller must handle `done`.
   */
  readonly onError?: (error: unknown) => void;
  /** SQLite busy timeout, ms (default 5000). */
  readonly busyTimeoutMs?: number;
  /**
   * Keep applying to a file written by this older version of the projection (one it lists in
   * `servesVersions`): the old copy serves while a rebuild at the new version runs. The checkpoint
   * keeps the file's version. Default: the projection's own version.
   */
  readonly fileVersion?: number;
}

/** A running projection. The runner owns its connection and closes it when it stops. */
export interface ProjectionRunner {
  readonly name: string;
  /** Last stream sequence committed to the file (with its checkpoint). */
  readonly appliedSeq: number;
  /** False once the runner stopped (aborted, failed, or the log ended). */
  readonly running: boolean;
  /** The runner's own connection, for queries in the same process while it runs. */
  readonly db: Database;
  /**
   * Settles when the runner stops: resolves after an abort (or the end of the log), rejects with
   * the error that stopped it (a {@link ProjectionApplyError} when `apply` threw, or the log's error).
   */
  readonly done: Promise<void>;
  /**
   * True as soon as `appliedSeq >= seq` (woken by the commit that reaches it, never polled);
   * false after `timeoutMs`, or when the runner stops before reaching it.
   */
  waitFor(seq: number, timeoutMs: number): Promise<boolean>;
  /** Waits until everything in the log at call time is applied: `waitFor(await log.headSequence())`. */
  caughtUp(timeoutMs?: number): Promise<boolean>;
  /** Stops the runner (committing what it already received) and waits for it; never rejects. */
  stop(): Promise<void>;
}

/**
 * While catching up, a partial batch is committed after this long without filling (a stalled
 * stream), instead of on the next tick.
 */
const CATCH_UP_FLUSH_MS = 200;

/**
 * SQLite page cache of the runner's connection, KiB (SQLite's default is 2 MiB). A catch-up inserts
 * into several tables and indexes at once, keyed by random hashes; with the default cache most
 * inserts miss it. Counted in the process's RSS.
 */
const WRITER_CACHE_KIB = 32_768;

const UPSERT_CHECKPOINT = `
INSERT INTO checkpoint (projection, version, seq, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (projection) DO UPDATE SET version = excluded.version, seq = excluded.seq, updated_at = excluded.updated_at
`;

/**
 * Starts a checkpointed projection: opens `file` (WAL), migrates it, then follows the log from the
 * stored checkpoint + 1 and applies envelopes in batches, each batch and the new checkpoint in ONE
 * transaction, so a crash at any point neither applies an envelope twice nor skips one.
 *
 * Batching: envelopes are buffered and committed when the buffer reaches `batchSize`, or on the
 * next event-loop turn once the stream goes quiet (a live tail commits each message within a tick).
 * Below the log's head as of the start (a catch-up or a rebuild), batches are not cut at every turn
 * of the event loop but fill up to `batchSize` (a partial one is committed after
 * {@link CATCH_UP_FLUSH_MS} without progress); from the head on, the live rule applies. Fewer,
 * bigger transactions write each hot B-tree page to the WAL once per batch instead of once per
 * burst. Batch size never changes what is applied, only how many envelopes share a transaction
 * with their checkpoint.
 *
 * If `apply` throws, the batch rolls back, the checkpoint stays where it was and the runner stops
 * with the error: an event is never skipped. Restarting retries from the checkpoint.
 *
 * Throws synchronously when the file cannot be opened or migrated, or was written by another
 * version of the projection ({@link ProjectionVersionError}).
 */
export function startProjection(options: StartProjectionOptions): ProjectionRunner {
  const { log, projection, file, signal } = options;
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 2048));
  const db = openProjectionDatabase(file, { busyTimeoutMs: options.busyTimeoutMs ?? 5000 });
  db.pragma(`cache_size = -${WRITER_CACHE_KIB}`);

  const fileVersion = options.fileVersion ?? projection.version;
  if (fileVersion !== projection.version && !(projection.servesVersions ?? []).includes(fileVersion)) {
    db.close();
    throw new ProjectionVersionError(projection.name, fileVersion, projection.version, file);
  }
  let appliedSeq: number;
  try {
    appliedSeq = migrate(db, projection, fileVersion, file);
  } catch (error) {
    db.close();
    throw error;
  }

  const upsertCheckpoint = db.prepare<[string, number, number, number]>(UPSERT_CHECKPOINT);
  const commit = db.transaction((batch: readonly RecordedEnvelope[]): void => {
    // Fence: under the write lock, the file must still be where this runner left it. A second
    // runner on the same file (a misconfigured deployment) fails here instead of applying twice.
    const stored = readCheckpoint(db, projection.name)?.seq;
    if (stored !== appliedSeq) {
      throw new Error(
        `projection "${projection.name}" in ${file} is at seq ${stored ?? "none"}, this runner expected ${appliedSeq}: ` +
          "another runner writes to the same file",
      );
    }
    for (const envelope of batch) {
      try {
        projection.apply(db, envelope);
      } catch (error) {
        throw new ProjectionApplyError(projection.name, envelope, error);
      }
    }
    const last = batch[batch.length - 1] as RecordedEnvelope;
    upsertCheckpoint.run(projection.name, fileVersion, last.seq, Date.now());
  });

  const waiters = new SequenceWaiters();
  const controller = new AbortController();
  /** Set by the caller's signal or stop(): an error the log raises after it is the end of the stream. */
  let stopRequested = signal.aborted;
  const forwardAbort = (): void => {
    stopRequested = true;
    controller.abort(signal.reason);
  };
  if (signal.aborted) controller.abort(signal.reason);
  else signal.addEventListener("abort", forwardAbort, { once: true });

  let buffer: RecordedEnvelope[] = [];
  /** Highest sequence received (applied or buffered): the guard against a repeated delivery. */
  let receivedSeq = appliedSeq;
  /** A flush on the next tick (live), or after {@link CATCH_UP_FLUSH_MS} (catching up). */
  let scheduled: NodeJS.Immediate | undefined;
  let scheduledLater: NodeJS.Timeout | undefined;
  /** The log's head when the runner started (0 until known): below it, batches are big. */
  let catchUpTo = 0;
  let failure: { error: unknown } | undefined;
  let running = true;

  const fail = (error: unknown): void => {
    if (failure !== undefined) return;
    failure = { error };
    buffer = [];
    controller.abort(error);
    waiters.cancelAll();
  };

  const unschedule = (): void => {
    if (scheduled !== undefined) clearImmediate(scheduled);
    if (scheduledLater !== undefined) clearTimeout(scheduledLater);
    scheduled = undefined;
    scheduledLater = undefined;
  };

  const flush = (): void => {
    unschedule();
    if (failure !== undefined || buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    try {
      // IMMEDIATE: take the write lock up front, so a concurrent writer (cleanup) waits on
      // busy_timeout instead of failing the transaction half-way.
      commit.immediate(batch);
    } catch (error) {
      fail(error);
      return;
    }
    const first = batch[0] as RecordedEnvelope;
    appliedSeq = (batch[batch.length - 1] as RecordedEnvelope).seq;
    waiters.wake(appliedSeq);
    if (options.onApplied !== undefined) {
      try {
        options.onApplied({ fromSeq: first.seq, toSeq: appliedSeq, count: batch.length });
      } catch (error) {
        fail(error);
      }
    }
  };

  const run = async (): Promise<void> => {
    // Best effort: without the head, every batch follows the live rule.
    void log.headSequence().then(
      (head) => (catchUpTo = head),
      () => undefined,
    );
    try {
      for await (const envelope of log.follow(appliedSeq + 1, controller.signal)) {
        if (failure !== undefined) break;
        // A log that repeats a message must not make us apply it twice.
        if (envelope.seq <= receivedSeq) continue;
        receivedSeq = envelope.seq;
        buffer.push(envelope);
        if (buffer.length >= batchSize) flush();
        else if (envelope.seq < catchUpTo) scheduledLater ??= setTimeout(flush, CATCH_UP_FLUSH_MS);
        else scheduled ??= setImmediate(flush);
      }
      flush();
    } catch (error) {
      // An error raised by our own abort is the end of the stream, not a failure.
      if (stopRequested && failure === undefined) flush();
      else fail(error);
    } finally {
      unschedule();
      running = false;
      signal.removeEventListener("abort", forwardAbort);
      waiters.cancelAll();
      db.close();
    }
    if (failure !== undefined) {
      options.onError?.(failure.error);
      throw failure.error;
    }
  };

  const done = run();
  if (options.onError !== undefined) done.catch(() => undefined);

  const waitFor = (seq: number, timeoutMs: number): Promise<boolean> => {
    if (appliedSeq >= seq) return Promise.resolve(true);
    if (!running || failure !== undefined) return Promise.resolve(false);
    return waiters.wait(seq, timeoutMs);
  };

  return {
    name: projection.name,
    get appliedSeq() {
      return appliedSeq;
    },
    get running() {
      return running;
    },
    db,
    done,
    waitFor,
    async caughtUp(timeoutMs = 10_000): Promise<boolean> {
      return waitFor(await log.headSequence(), timeoutMs);
    },
    async stop(): Promise<void> {
      stopRequested = true;
      controller.abort(new Error("projection stopped"));
      await done.catch(() => undefined);
    },
  };
}

/** Creates the checkpoint table and the projection's schema; returns the checkpoint's sequence. */
function migrate(db: Database, projection: Projection, version: number, file: string): number {
  // IMMEDIATE so two processes opening a new file do not race on the schema.
  return db
    .transaction((): number => {
      db.exec(CHECKPOINT_SCHEMA);
      const checkpoint = readCheckpoint(db, projection.name);
      if (checkpoint !== undefined && checkpoint.version !== version) {
        throw new ProjectionVersionError(projection.name, checkpoint.version, projection.version, file);
      }
      projection.migrate(db);
      if (checkpoint === undefined) {
        db.prepare(UPSERT_CHECKPOINT).run(projection.name, version, 0, Date.now());
        return 0;
      }
      return checkpoint.seq;
    })
    .immediate();
}
