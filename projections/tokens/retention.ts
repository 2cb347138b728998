import { setImmediate as yieldToEventLoop, setTimeout as sleep } from "node:timers/promises";
import type { Database, Statement } from "better-sqlite3";
import type { EventLog } from "../../services/eventlog/types.js";
import { keyPage, type SweepKey } from "./key-page.js";

/**
 * Retention of revoked rows. Expired rows already leave the read model (cleanup.ts); a revoked row
 * would otherwise stay until its expiry: a rotated-away refresh token for the rest of its 30 days.
 * Past the retention window these go, in bounded batches:
 * - tokens revoked themselves (RevokeToken, rotation), or whose family or grant was revoked;
 * - grants revoked themselves (their tokens went with them first).
 * "Past the window" is by log sequence: everything revoked by a message stored before
 * `now - window`, found by a binary search over the log ({@link sequenceStoredBefore}), so no
 * revocation time has to be stored per row (and the schema stays as it is).
 *
 * What a removed row changes: introspection answered inactive for it and still does (no row), but
 * a refresh token presented again after the window is unknown rather than recognized as reuse, so
 * its family is no longer revoked for it. The window bounds reuse detection; keep it longer than a
 * stolen token is plausibly replayed. Consumed authorization codes need no retention: every code
 * row leaves at its expiry (at most 10 minutes), redeemed or not.
 *
 * Each batch examines at most `batchSize` rows after a cursor in primary-key order (no index on the
 * revocation columns is needed, and a batch never scans the whole table), deletes the revoked ones
 * in one short IMMEDIATE transaction, and yields, so readers and the runner interleave.
 */

export type RetentionTable = "tokens" | "grants";

/**
 * Where a sweep resumes: the last primary key of the previous batch (tokens: the hash's bytes;
 * grants: the grant id). {@link startCursor} is before every key.
 */
export type RetentionCursor = SweepKey;

/** Before every key of `table`: primary keys are never empty. */
export const startCursor = (table: RetentionTable): RetentionCursor => (table === "tokens" ? Buffer.alloc(0) : "");

type Page = ReturnType<typeof keyPage>;

interface RetentionStatements {
  /** The last key and the number of keys among the next `limit` after a cursor. */
  readonly page: Readonly<Record<RetentionTable, Page>>;
  readonly deleteTokens: Statement<[RetentionCursor, RetentionCursor, number, number, number]>;
  readonly deleteGrants: Statement<[RetentionCursor, RetentionCursor, number]>;
}

const prepared = new WeakMap<Database, RetentionStatements>();

function statementsFor(db: Database): RetentionStatements {
  let statements = prepared.get(db);
  if (statements === undefined) {
    statements = {
      page: { tokens: keyPage(db, "tokens", "hash"), grants: keyPage(db, "grants", "grant_id") },
      // A token goes when it, its family or its grant was revoked at or before the cutoff.
      deleteTokens: db.prepare(`
        DELETE FROM tokens WHERE hash IN (
          SELECT t.hash FROM tokens t
          LEFT JOIN token_families f ON f.family_id = t.family_id
          LEFT JOIN grants g ON g.grant_id = f.grant_id
          WHERE t.hash > ? AND t.hash <= ?
            AND (t.revoked_seq <= ? OR f.revoked_seq <= ? OR g.revoked_seq <= ?))`),
      deleteGrants: db.prepare("DELETE FROM grants WHERE grant_id > ? AND grant_id <= ? AND revoked_seq <= ?"),
    };
    prepared.set(db, statements);
  }
  return statements;
}

/** Result of one batch: rows deleted, and the cursor to continue from (undefined: the table is done). */
export interface RetentionBatch {
  readonly deleted: number;
  readonly next: RetentionCursor | undefined;
}

/**
 * One bounded batch over `table`: the next `batchSize` keys after `after` (start with
 * {@link startCursor}), deleting the rows among them revoked at or before `cutoffSeq`.
 */
export function deleteRevokedBatch(
  db: Database,
  table: RetentionTable,
  cutoffSeq: number,
  after: RetentionCursor,
  batchSize: number,
): RetentionBatch {
  const statements = statementsFor(db);
  return db
    .transaction((): RetentionBatch => {
      const page = statements.page[table].get(after, batchSize);
      if (page === undefined || page.last === null) return { deleted: 0, next: undefined };
      const deleted =
        table === "tokens"
          ? statements.deleteTokens.run(after, page.last, cutoffSeq, cutoffSeq, cutoffSeq).changes
          : statements.deleteGrants.run(after, page.last, cutoffSeq).changes;
      return { deleted, next: page.n < batchSize ? undefined : page.last };
    })
    .immediate();
}

/** Every revoked row at or before `cutoffSeq`, tokens first, in batches (synchronous: for tests and tools). */
export function deleteRevoked(db: Database, cutoffSeq: number, batchSize = 1000): { tokens: number; grants: number } {
  const totals = { tokens: 0, grants: 0 };
  for (const table of ["tokens", "grants"] as const) {
    let after: RetentionCursor | undefined = startCursor(table);
    while (after !== undefined) {
      const batch = deleteRevokedBatch(db, table, cutoffSeq, after, batchSize);
      totals[table] += batch.deleted;
      after = batch.next;
    }
  }
  return totals;
}

/**
 * The last sequence whose message the log stored at or before `beforeMs` (0 when none): a binary
 * search over the dense stream, about log2(head) reads.
 */
export async function sequenceStoredBefore(log: Pick<EventLog, "get" | "headSequence">, beforeMs: number): Promise<number> {
  let low = 0; // stored at or before: known
  let high = await log.headSequence(); // candidates are in (low, high]
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    const envelope = await log.get(mid);
    if (envelope !== undefined && envelope.storedAt <= beforeMs) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** Options of {@link startRevokedRetention}. */
export interface RevokedRetentionOptions {
  /** The active tokens connection, read before every batch (follows blue-green switches). */
  readonly db: () => Database;
  readonly log: Pick<EventLog, "get" | "headSequence">;
  /** Revoked rows older than this go, ms. */
  readonly retentionMs: number;
  readonly signal: AbortSignal;
  /** Rows examined per batch, default 1000. */
  readonly batchSize?: number;
  /** Between runs, ms (default 600 000: retention is about days). The first run starts right away. */
  readonly intervalMs?: number;
  readonly now?: () => number;
  readonly onRun?: (deleted: { tokens: number; grants: number; cutoffSeq: number }) => void;
  readonly onError?: (error: unknown) => void;
}

/** Runs the retention sweep every `intervalMs`, yielding between batches; resolves once `signal` aborts. */
export async function startRevokedRetention(options: RevokedRetentionOptions): Promise<void> {
  const { signal } = options;
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 1000));
  const now = options.now ?? Date.now;
  while (!signal.aborted) {
    try {
      const cutoffSeq = await sequenceStoredBefore(options.log, now() - options.retentionMs);
      const totals = { tokens: 0, grants: 0 };
      if (cutoffSeq > 0) {
        for (const table of ["tokens", "grants"] as const) {
          let after: RetentionCursor | undefined = startCursor(table);
          while (after !== undefined) {
            const db = options.db();
            if (signal.aborted || !db.open) return;
            const batch = deleteRevokedBatch(db, table, cutoffSeq, after, batchSize);
            totals[table] += batch.deleted;
            after = batch.next;
            await yieldToEventLoop();
          }
        }
      }
      options.onRun?.({ ...totals, cutoffSeq });
    } catch (error) {
      options.onError?.(error);
    }
    try {
      await sleep(options.intervalMs ?? 600_000, undefined, { signal });
    } catch {
      break; // aborted
    }
  }
}
