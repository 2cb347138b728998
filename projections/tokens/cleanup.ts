import { setImmediate as yieldToEventLoop, setTimeout as sleep } from "node:timers/promises";
import type { Database, Statement } from "better-sqlite3";

/** Options of {@link deleteExpiredTokens}. */
export interface DeleteExpiredTokensOptions {
  /** Rows per DELETE statement (its own short transaction), default 1000. */
  batchSize?: number;
  /** Keep tokens this long past their expiry (clock skew between replicas), ms. Default 0. */
  graceMs?: number;
}

interface CleanupStatements {
  readonly tokens: Statement<[number, number]>;
  readonly families: Statement<[number, number]>;
  readonly codes: Statement<[number, number]>;
}

const prepared = new WeakMap<Database, CleanupStatements>();

function statementsFor(db: Database): CleanupStatements {
  let statements = prepared.get(db);
  if (statements === undefined) {
    statements = {
      // Bounded by the LIMIT over the expiry index: never one statement over millions of rows.
      tokens: db.prepare(
        "DELETE FROM tokens WHERE hash IN (SELECT hash FROM tokens WHERE expires_at < ? ORDER BY expires_at LIMIT ?)",
      ),
      // A family's expires_at is its latest token's expiry: past it, none of its tokens is left.
      families: db.prepare(`DELETE FROM token_families WHERE family_id IN
        (SELECT family_id FROM token_families WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`),
      codes: db.prepare("DELETE FROM codes WHERE hash IN (SELECT hash FROM codes WHERE expires_at < ? ORDER BY expires_at LIMIT ?)"),
    };
    prepared.set(db, statements);
  }
  return statements;
}

/**
 * One bounded batch: deletes at most `batchSize` tokens (and then families) that expired before
 * `cutoff`. Returns the number of tokens deleted; fewer than `batchSize` means the tokens are done.
 */
export function deleteExpiredTokensBatch(db: Database, cutoff: number, batchSize: number): number {
  const statements = statementsFor(db);
  const tokens = statements.tokens.run(cutoff, batchSize).changes;
  if (tokens < batchSize) {
    statements.families.run(cutoff, batchSize);
    statements.codes.run(cutoff, batchSize);
  }
  return tokens;
}

/**
 * Deletes every token with `expires_at < nowMs - graceMs` in batches of `batchSize`, each its own
 * short transaction (the projection runner's writes interleave between them), and drops the token
 * families that expired with them and expired authorization codes. Returns the number of tokens deleted. Synchronous: for a large
 * backlog in a serving process prefer {@link startTokenCleanup}, which yields between batches.
 */
export function deleteExpiredTokens(db: Database, nowMs: number, options: DeleteExpiredTokensOptions = {}): number {
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 1000));
  const cutoff = nowMs - (options.graceMs ?? 0);
  const statements = statementsFor(db);
  let total = 0;
  for (;;) {
    const deleted = statements.tokens.run(cutoff, batchSize).changes;
    total += deleted;
    if (deleted < batchSize) break;
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
  /** Period between runs, ms (default 60 000). The first run starts right away. */
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
 * the event loop between batches so introspection requests are served while a backlog drains.
 * The returned promise resolves once `signal` aborts.
 */
export async function startTokenCleanup(options: TokenCleanupOptions): Promise<void> {
  const { signal } = options;
  const connection = typeof options.db === "function" ? options.db : (() => options.db) as () => Database;
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 1000));
  const intervalMs = Math.max(1, options.intervalMs ?? 60_000);
  const now = options.now ?? Date.now;
  while (!signal.aborted) {
    try {
      const cutoff = now() - (options.graceMs ?? 0);
      let total = 0;
      for (;;) {
        // Checked before every batch: the connection may have been closed (the runner's own) while
        // we yielded.
        const db = connection();
        if (signal.aborted || !db.open) return;
        const deleted = deleteExpiredTokensBatch(db, cutoff, batchSize);
        total += deleted;
        if (deleted < batchSize) break;
        await yieldToEventLoop();
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
