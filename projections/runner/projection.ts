import type { Database } from "better-sqlite3";
import type { RecordedEnvelope } from "../../services/eventlog/types.js";

/**
 * A read model fed by the log. Both methods do synchronous SQLite work on the connection they are
 * given and run inside the runner's transaction: they must not open or commit transactions
 * themselves, and must be deterministic functions of the envelopes (no clock, no I/O).
 */
export interface Projection {
  /** Key of the projection's checkpoint row. */
  readonly name: string;
  /**
   * Schema version of the read model. A file written by another version is refused: a schema
   * change is a rebuild into a new file, never an in-place migration.
   */
  readonly version: number;
  /**
   * Older versions whose files this build's handlers and queries still work on (the change only
   * added an index, say). On start such a file keeps serving, and keeps being applied to, while the
   * new version is rebuilt beside it; a file of any other version is rebuilt before it serves.
   */
  readonly servesVersions?: readonly number[];
  /** Creates the projection's tables and indexes if missing (idempotent). */
  migrate(db: Database): void;
  /** Applies one message (all of its events); throwing rolls back the whole batch. */
  apply(db: Database, envelope: RecordedEnvelope): void;
}

/** Thrown (as the runner's failure) when `apply` throws: names the projection and the sequence. */
export class ProjectionApplyError extends Error {
  readonly projection: string;
  readonly seq: number;

  constructor(projection: string, envelope: RecordedEnvelope, cause: unknown) {
    const types = envelope.events.map((event) => event.type).join(", ");
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`projection "${projection}" failed to apply seq ${envelope.seq} (${types}): ${reason}`, { cause });
    this.name = "ProjectionApplyError";
    this.projection = projection;
    this.seq = envelope.seq;
  }
}

/** Thrown when a file's checkpoint was written by another version of the projection. */
export class ProjectionVersionError extends Error {
  constructor(projection: string, fileVersion: number, codeVersion: number, file: string) {
    super(
      `projection "${projection}" in ${file} is at version ${fileVersion}, this build is version ${codeVersion}: ` +
        "rebuild it into a new file",
    );
    this.name = "ProjectionVersionError";
  }
}
