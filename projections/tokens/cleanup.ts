import { setImmediate as yieldToEventLoop, setTimeout as sleep } from "node:timers/promises";
import type { Database, Statement } from "better-sqlite3";

/**
 * Expiry cleanup. Tokens have no expiry index (it repeated each token's 32-byte key, ~45 B per live
 * token, issue 8's storage bar): a run sweeps the primary key with a cursor instead, like revoked-row
 * retention (retention.ts), each batch examining at most `batchSize` rows, so no statement touches
 * more than a batch and none scans the table. A run reads every token once, so runs are minutes
 * apart and expired rows stay up to grace + interval (introspection already answers them inactive).
 * Families and codes are few per token and keep their expiry indexes.
 */

/** Options of {@link deleteExpiredTokens}. */
export interface DeleteExpiredTokensOptions {
  /** Rows examined per batch (its own short transaction), default 1000. */
  batchSize?: number;
  /** Keep tokens this long past their expiry (clock skew between replicas), ms. Default 0. */
  graceMs?: number;
}

/** Where a sweep resumes: the last token key of the previous batch; an empty key is before every key. */
export type CleanupCursor = Buffer;

/** Result of one batch: tokens deleted, and the cursor to continue from (undefined: the sweep is done). */
export interface CleanupBatch {
  readonly deleted: number;
  readonly next: CleanupCursor | undefined;
}

interface CleanupStatements {
  /** The last key and the number of keys among the next `limit` after a cursor. */
  readonly page: Statement<[Buffer, number], { last: Buffer | null; n: number }>;
  readonly tokens: Statement<[Buffer, Buffer, number]>;
  readonly families: Statement<[number, number]>;
  readonly codes: Statement<[number, number]>;
}

const prepared = new WeakMap<Database, CleanupStatements>();

function statementsFor(db: Database): CleanupStatements {
  let statements = prepared.get(db);
  if (statements === undefined) {
    statements = {
      page: db.prepare("SELECT max(hash) AS last, count(*) AS n FROM (SELECT hash FROM tokens WHERE hash > ? ORDER BY hash LIMIT ?)"),
      tokens: db.prepare("DELETE FROM tokens WHERE hash > ? AND hash <= ? AND expires_at < ?"),
      // A family's expires_at is its latest token's expiry: past it, none of its tokens is left
      // (once a sweep at the same cutoff has finished). Bounded by the LIMIT over the expiry index.
      families: db.prepare(`DELETE FROM token_families WHERE family_id IN
        (SELECT family_id FROM token_families WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`),
      codes: db.prepare("DELETE FROM codes WHERE hash IN (SELECT hash FROM codes WHERE expires_at < ? ORDER BY expires_at LIMIT ?)"),
    };
    prepared.set(db, statements);
  }
  return statements;
}

/** Before every token key. */
export const CLEANUP_START: CleanupCursor = Buffer.alloc(0);

/**
 * One bounded batch of a sweep: examines the next `batchSize` tokens after `after` (start with
 * {@link CLEANUP_START}) and deletes those that expired before `cutoff`. When the sweep is done
 * (`next` undefined), it also deletes one batch of expired families and codes.
 */
export function deleteExpiredTokensBatch(db: Database, cutoff: number, after: CleanupCursor, batchSize: number): CleanupBatch {
  const statements = statementsFor(db);
  const batch = db
    .transaction((): CleanupBatch => {
      const page = statements.page.get(after, batchSize);
      if (page === undefined || page.last === null) return { deleted: 0, next: undefined };
      const deleted = statements.tokens.run(after, page.last, cutoff).changes;
      return { deleted, next: page.n < batchSize ? undefined : page.last };
    })
    .immediate();
  if (batch.next === undefined) {
    statements.families.run(cutoff, batchSize);
    statements.codes.run(cutoff, batchSize);
  }
  return batch;
}

/**
 * Deletes every token with `expires_at < nowMs - graceMs` in one sweep of batches of `batchSize`
 * (each its own short transaction: the projection runner's writes interleave between them), then
 * the token families that expired with them and expired authorization codes. Returns the number of
 * tokens deleted. Synchronous: in a serving process prefer {@link startTokenCleanup}, which yields
 * between batches.
 */
export function deleteExpiredTokens(db: Database, nowMs: number, options: DeleteExpiredTokensOptions = {}): number {
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 1000));
  const cutoff = nowMs - (options.graceMs ?? 0);
  const statements = statementsFor(db);
  let total = 0;
  let after: CleanupCursor | undefined = CLEANUP_START;
  while (after !== undefined) {
    const batch = deleteExpiredTokensBatch(db, cutoff, after, batchSize);
    total += batch.deleted;
    after = batch.next;
  }
  while (statements.families.run(cutoff, batchSize).changes >= batchSize);
  while (statements.codes.run(cutoff, batchSize).changes >= batchSize);
  return total;
}

/** Options of {@link startTokenCleanup}. */
export interface TokenCleanupOptions extends DeleteExpiredTokensOptions {
  /**
   * A writable connection to the tokens file (the runner's own one is fine in the same process), or
   * a getter for the active one, read before every batch so cleanup follows a blue-green switch.
   */
  db: Database | (() => Database);
  /**
   * Period between runs, ms (default 300 000: each run reads every token row once). The first run
   * starts right away.
   */
  intervalMs?: number;
  /** Stops the scheduler (between batches). */
  signal: AbortSignal;
  /** Clock, default `Date.now`. */
  now?: () => number;
  /** After each run, with the number of tokens it deleted. */
  onRun?: (deleted: number) => void;
  /**
   * A failed batch (e.g. SQLITE_BUSY past the busy timeout) is reported here and retried at the next
   * run; without it the error is swallowed.
   */
  onError?: (error: unknown) => void;
}

/**
 * Runs {@link deleteExpiredTokens}' work every `intervalMs`, one batch at a time with a turn of
 * the event loop between batches so introspection requests are served while a sweep runs.
 * The returned promise resolves once `signal` aborts.
 */
export async function startTokenCleanup(options: TokenCleanupOptions): Promise<void> {
  const { signal } = options;
  const connection = typeof options.db === "function" ? options.db : (() => options.db) as () => Database;
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 1000));
  const intervalMs = Math.max(1, options.intervalMs ?? 300_000);
  const now = options.now ?? Date.now;
  while (!signal.aborted) {
    try {
      const cutoff = now() - (options.graceMs ?? 0);
      let total = 0;
      let after: CleanupCursor | undefined = CLEANUP_START;
      while (after !== undefined) {
        // Checked before every batch: the connection may have been closed (the runner's own) while
        // we yielded.
        const db = connection();
        if (signal.aborted || !db.open) return;
        const batch = deleteExpiredTokensBatch(db, cutoff, after, batchSize);
        total += batch.deleted;
        after = batch.next;
        if (after !== undefined) await yieldToEventLoop();
      }
      options.onRun?.(total);
    } catch (error) {
      options.onError?.(error);
    }
    try {
      await sleep(intervalMs, undefined, { signal });
    } catch {
      break; // aborted
    }
  }
}
