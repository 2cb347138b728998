import { setImmediate as yieldToEventLoop, setTimeout as sleep } from "node:timers/promises";
import type { Database, Statement } from "better-sqlite3";
import { keyPage, type SweepKey } from "./key-page.js";

/**
 * Expiry cleanup. Tokens and families have no expiry index (an index repeats each row's key: ~46 B
 * per live token for tokens, ~19 for families, issue 8's storage bar): a run sweeps each table's
 * primary key with a cursor instead, like revoked-row retention (retention.ts), each batch
 * examining at most `batchSize` rows, so no statement touches more than a batch and none scans the
 * table. Tokens first, then families: a family's expires_at is its latest token's expiry, so past
 * it none of its tokens is left once the tokens sweep at the same cutoff is done. A run reads every
 * row once, so runs are minutes apart and expired rows stay up to grace + interval (introspection
 * already answers them inactive). Codes (minutes-lived, few) keep their expiry index.
 */

/** Options of {@link deleteExpiredTokens}. */
export interface DeleteExpiredTokensOptions {
  /** Rows examined per batch (its own short transaction), default 1000. */
  batchSize?: number;
  /** Keep tokens this long past their expiry (clock skew between replicas), ms. Default 0. */
  graceMs?: number;
}

/** The tables a run sweeps, in order. */
type SweptTable = "tokens" | "token_families";

/** Where a run resumes: the table and the last primary key of the previous batch there. */
export interface CleanupCursor {
  readonly table: SweptTable;
  /** Tokens: the hash's bytes; families: the family id. The start values sort before every key. */
  readonly after: Buffer | string;
}

/** Result of one batch: rows deleted (of `table`), and the cursor to continue from (undefined: the run is done). */
export interface CleanupBatch {
  readonly table: SweptTable;
  readonly deleted: number;
  readonly next: CleanupCursor | undefined;
}

interface Sweep {
  /** The last key and the number of keys among the next `limit` after a cursor. */
  readonly page: ReturnType<typeof keyPage>;
  /** Deletes the rows in (after, last] that expired before the cutoff. */
  readonly delete: Statement<[SweepKey, SweepKey, number]>;
}

interface CleanupStatements {
  readonly sweeps: Readonly<Record<SweptTable, Sweep>>;
  readonly codes: Statement<[number, number]>;
}

const prepared = new WeakMap<Database, CleanupStatements>();

function statementsFor(db: Database): CleanupStatements {
  let statements = prepared.get(db);
  if (statements === undefined) {
    statements = {
      sweeps: {
        tokens: {
          page: keyPage(db, "tokens", "hash"),
          delete: db.prepare("DELETE FROM tokens WHERE hash > ? AND hash <= ? AND expires_at < ?"),
        },
        token_families: {
          page: keyPage(db, "token_families", "family_id"),
          delete: db.prepare("DELETE FROM token_families WHERE family_id > ? AND family_id <= ? AND expires_at < ?"),
        },
      },
      // Bounded by the LIMIT over the expiry index.
      codes: db.prepare("DELETE FROM codes WHERE hash IN (SELECT hash FROM codes WHERE expires_at < ? ORDER BY expires_at LIMIT ?)"),
    };
    prepared.set(db, statements);
  }
  return statements;
}

/** The start of a run: before every token key (an empty blob), then before every family id (""). */
export const CLEANUP_START: CleanupCursor = { table: "tokens", after: Buffer.alloc(0) };
const FAMILIES_START: CleanupCursor = { table: "token_families", after: "" };

/**
 * One bounded batch of a run: examines the next `batchSize` rows after `cursor` (start with
 * {@link CLEANUP_START}) and deletes those that expired before `cutoff`. When the run is done
 * (`next` undefined), it also deletes one batch of expired authorization codes.
 */
export function deleteExpiredTokensBatch(db: Database, cutoff: number, cursor: CleanupCursor, batchSize: number): CleanupBatch {
  const statements = statementsFor(db);
  const sweep = statements.sweeps[cursor.table];
  const batch = db
    .transaction((): CleanupBatch => {
      const page = sweep.page.get(cursor.after, batchSize);
      const last = page?.last ?? undefined;
      const deleted = last === undefined ? 0 : sweep.delete.run(cursor.after, last, cutoff).changes;
      let next: CleanupCursor | undefined;
      if (last !== undefined && (page?.n ?? 0) >= batchSize) next = { table: cursor.table, after: last };
      else if (cursor.table === "tokens") next = FAMILIES_START;
      return { table: cursor.table, deleted, next };
    })
    .immediate();
  if (batch.next === undefined) statements.codes.run(cutoff, batchSize);
  return batch;
}

/**
 * Deletes every token with `expires_at < nowMs - graceMs` in one sweep of batches of `batchSize`
 * (each its own short transaction: the projection runner's writes interleave between them), then,
 * in a second sweep, the token families that expired with them, and expired authorization codes. Returns the number of
 * tokens deleted. Synchronous: in a serving process prefer {@link startTokenCleanup}, which yields
 * between batches.
 */
export function deleteExpiredTokens(db: Database, nowMs: number, options: DeleteExpiredTokensOptions = {}): number {
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 1000));
  const cutoff = nowMs - (options.graceMs ?? 0);
  const statements = statementsFor(db);
  let total = 0;
  let cursor: CleanupCursor | undefined = CLEANUP_START;
  while (cursor !== undefined) {
    const batch = deleteExpiredTokensBatch(db, cutoff, cursor, batchSize);
    if (batch.table === "tokens") total += batch.deleted;
    cursor = batch.next;
  }
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
      let cursor: CleanupCursor | undefined = CLEANUP_START;
      while (cursor !== undefined) {
        // Checked before every batch: the connection may have been closed (the runner's own) while
        // we yielded.
        const db = connection();
        if (signal.aborted || !db.open) return;
        const batch = deleteExpiredTokensBatch(db, cutoff, cursor, batchSize);
        if (batch.table === "tokens") total += batch.deleted;
        cursor = batch.next;
        if (cursor !== undefined) await yieldToEventLoop();
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
