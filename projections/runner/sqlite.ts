import BetterSqlite3 from "better-sqlite3";
import type { Database, Statement } from "better-sqlite3";

/** Options of {@link openProjectionDatabase}. */
export interface OpenProjectionDatabaseOptions {
  /** Open read-only (a reader in another process than the runner). Default false. */
  readonly?: boolean;
  /** How long a statement waits for a lock held by another connection, ms. Default 5000. */
  busyTimeoutMs?: number;
}

/**
 * Opens a projection file with the settings every connection to it uses: WAL (readers never block
 * the writer), synchronous=NORMAL (durable at checkpoint granularity; a power loss may lose the
 * last commits, never corrupt or half-apply them: the checkpoint rolls back with the rows) and a
 * busy timeout.
 */
export function openProjectionDatabase(file: string, options: OpenProjectionDatabaseOptions = {}): Database {
  const readonly = options.readonly ?? false;
  const db = new BetterSqlite3(file, { readonly, fileMustExist: readonly });
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    if (!readonly) {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
    }
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

export const CHECKPOINT_SCHEMA = `
CREATE TABLE IF NOT EXISTS checkpoint (
  projection TEXT PRIMARY KEY,
  version    INTEGER NOT NULL,
  seq        INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
`;

/** A projection's progress as stored in its file. */
export interface Checkpoint {
  readonly projection: string;
  readonly version: number;
  /** Last applied stream sequence (0: nothing applied yet). */
  readonly seq: number;
  /** Epoch milliseconds of the commit that wrote it. */
  readonly updatedAt: number;
}

const readStatements = new WeakMap<Database, Statement<[string], Checkpoint>>();

/**
 * Reads a projection's checkpoint; undefined when the file has none (yet). Safe from any
 * connection, in any process: the checkpoint is committed with the rows it covers.
 */
export function readCheckpoint(db: Database, name: string): Checkpoint | undefined {
  let statement = readStatements.get(db);
  if (statement === undefined) {
    const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'checkpoint'").get();
    if (exists === undefined) return undefined;
    statement = db.prepare<[string], Checkpoint>(
      "SELECT projection, version, seq, updated_at AS updatedAt FROM checkpoint WHERE projection = ?",
    );
    readStatements.set(db, statement);
  }
  return statement.get(name);
}

const dataVersions = new WeakMap<Database, Statement<[], number>>();

/**
 * SQLite's `PRAGMA data_version` of this connection: it changes exactly when another connection
 * committed to the file since the last call, so a reader can keep what it read until it changes.
 */
export function dataVersion(db: Database): number {
  let statement = dataVersions.get(db);
  if (statement === undefined) {
    statement = db.prepare<[], number>("PRAGMA data_version").pluck();
    dataVersions.set(db, statement);
  }
  return statement.get() as number;
}

/** Options of {@link waitForCheckpoint}. */
export interface WaitForCheckpointOptions {
  timeoutMs: number;
  /** Poll period, ms. Default 5. */
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Waits until a projection written by ANOTHER process has applied `seq` (read-your-writes across
 * processes), polling its checkpoint: a file is all the two processes share. Within the runner's
 * own process use `ProjectionRunner.waitFor`, which is woken on commit instead.
 */
export async function waitForCheckpoint(
  db: Database,
  name: string,
  seq: number,
  options: WaitForCheckpointOptions,
): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = Math.max(1, options.intervalMs ?? 5);
  for (;;) {
    if ((readCheckpoint(db, name)?.seq ?? 0) >= seq) return true;
    const left = deadline - Date.now();
    if (left <= 0 || options.signal?.aborted === true) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(interval, left)));
  }
}
