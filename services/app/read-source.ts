import { existsSync } from "node:fs";
import type { Database } from "better-sqlite3";
import {
  openProjectionDatabase,
  ProjectionVersionError,
  readCheckpoint,
  waitForCheckpoint,
  type Projection,
  type ProjectionRunner,
} from "../../projections/runner/index.js";

/**
 * A projection's read side as the serving roles use it: a connection, how far it has applied the
 * log, and a bounded wait for a sequence. Either the projector runs in this process, or another
 * process writes the file and this one reads it (a WAL reader).
 */
export interface ReadModelSource {
  readonly name: string;
  readonly file: string;
  readonly db: Database;
  appliedSeq(): number;
  waitFor(seq: number, timeoutMs: number): Promise<boolean>;
  /** Closes a reader's own connection; the runner closes its own. */
  close(): void;
}

/** The read side of a projection running in this process (woken on commit). */
export function runnerSource(runner: ProjectionRunner, file: string): ReadModelSource {
  return {
    name: runner.name,
    file,
    db: runner.db,
    appliedSeq: () => runner.appliedSeq,
    waitFor: (seq, timeoutMs) => runner.waitFor(seq, timeoutMs),
    close: () => undefined,
  };
}

/** Options of {@link openReaderSource}. */
export interface ReaderSourceOptions {
  /** How long to wait for the projector to create the file (ms). */
  readonly waitForFileMs: number;
  readonly signal?: AbortSignal;
}

/**
 * A read-only connection to the file another process's projector writes (WAL: readers never block
 * it). Progress is the checkpoint stored in the file with the rows it covers, so a read sees rows
 * and checkpoint from one snapshot; `waitFor` polls it ({@link waitForCheckpoint}).
 *
 * Throws when the file does not appear within `waitForFileMs`, and {@link ProjectionVersionError}
 * when it was written by another version of the projection.
 */
export async function openReaderSource(projection: Projection, file: string, options: ReaderSourceOptions): Promise<ReadModelSource> {
  const deadline = Date.now() + options.waitForFileMs;
  // The projector creates the file and its checkpoint row in one transaction; wait for both.
  for (;;) {
    if (existsSync(file)) {
      const db = openProjectionDatabase(file, { readonly: true });
      const checkpoint = readCheckpoint(db, projection.name);
      if (checkpoint !== undefined) {
        if (checkpoint.version !== projection.version) {
          db.close();
          throw new ProjectionVersionError(projection.name, checkpoint.version, projection.version, file);
        }
        return readerOn(db, projection.name, file, options.signal);
      }
      db.close();
    }
    if (Date.now() > deadline || options.signal?.aborted === true) {
      throw new Error(`no ${projection.name} read model at ${file} after ${options.waitForFileMs} ms: start a process with the projector role on this data dir`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function readerOn(db: Database, name: string, file: string, signal: AbortSignal | undefined): ReadModelSource {
  return {
    name,
    file,
    db,
    appliedSeq: () => readCheckpoint(db, name)?.seq ?? 0,
    waitFor: (seq, timeoutMs) => waitForCheckpoint(db, name, seq, { timeoutMs, ...(signal === undefined ? {} : { signal }) }),
    close: () => {
      if (db.open) db.close();
    },
  };
}
