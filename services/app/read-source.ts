import type { Database } from "better-sqlite3";

/**
 * A projection's read side as the serving roles use it: a connection, how far it has applied the
 * log, and a bounded wait for a sequence. Either the projector runs in this process, or another
 * process writes the file and this one reads it (a WAL reader). `file` and `db` name the active
 * file: after a blue-green switch (services/app/projection-slot.ts) they name the new one, so read
 * them at each use rather than keeping them.
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
