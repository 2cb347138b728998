import type { Database, Statement } from "better-sqlite3";
import type { AuditFilter } from "../../services/audit/filter.js";
import type { AggregateKind } from "../../services/eventlog/types.js";
import { type Checkpoint, readCheckpoint } from "../runner/sqlite.js";
import { AUDIT_PROJECTION_NAME } from "./handlers.js";

/** One row of the audit trail, as SearchEvents returns it (the payload as stored JSON). */
export interface AuditRow {
  readonly seq: number;
  readonly index: number;
  readonly at: number;
  readonly type: string;
  readonly schemaVersion: number;
  readonly actor: string;
  readonly requestId: string;
  readonly eventId: string;
  readonly aggregateKind: AggregateKind;
  readonly aggregateId: string;
  readonly subject: string | null;
  readonly clientId: string | null;
  readonly grantId: string | null;
  readonly payloadJson: string;
}

/** A position in the audit trail: the page after it starts strictly after (seq, index). */
export interface AuditCursor {
  readonly seq: number;
  readonly index: number;
}

export interface SearchOptions {
  readonly after?: AuditCursor;
  /** Rows at most. */
  readonly limit: number;
}

export interface SearchPage {
  readonly rows: AuditRow[];
  /** Where the next page starts; undefined on the last page. */
  readonly next?: AuditCursor;
}

const COLUMNS = `e.seq, e.idx AS "index", e.at, e.type, e.version AS schemaVersion, e.actor, e.request_id AS requestId,
  e.event_id AS eventId, e.aggregate_kind AS aggregateKind, e.aggregate_id AS aggregateId, e.subject,
  e.client_id AS clientId, e.grant_id AS grantId, e.payload AS payloadJson`;

type Params = Record<string, string | number>;

/**
 * Queries over the audit read model. A search is one statement over the indexes (never the log):
 * every filter becomes a WHERE term, rows come in log order (seq, idx), and a page resumes with a
 * seek past the previous page's last row. Statements are prepared once per filter shape.
 */
export class AuditReadModel {
  readonly #statements = new Map<string, Statement<[Params], AuditRow>>();

  constructor(private readonly db: Database) {}

  /** The projection's checkpoint: how far it has applied the log. */
  checkpoint(): Checkpoint | undefined {
    return readCheckpoint(this.db, AUDIT_PROJECTION_NAME);
  }

  search(filter: AuditFilter, options: SearchOptions): SearchPage {
    const where: string[] = [];
    const params: Params = {};
    const term = (sql: string, values: Params): void => {
      where.push(sql);
      Object.assign(params, values);
    };
    if (options.after !== undefined) {
      term("(e.seq > @afterSeq OR (e.seq = @afterSeq AND e.idx > @afterIdx))", { afterSeq: options.after.seq, afterIdx: options.after.index });
    }
    if (filter.fromSeq !== undefined) term("e.seq >= @fromSeq", { fromSeq: filter.fromSeq });
    if (filter.toSeq !== undefined) term("e.seq <= @toSeq", { toSeq: filter.toSeq });
    if (filter.fromTime !== undefined) term("e.at >= @fromTime", { fromTime: filter.fromTime });
    if (filter.toTime !== undefined) term("e.at < @toTime", { toTime: filter.toTime });
    if (filter.actor !== undefined) term("e.actor = @actor", { actor: filter.actor });
    if (filter.subject !== undefined) term("e.subject = @subject", { subject: filter.subject });
    if (filter.clientId !== undefined) term("e.client_id = @clientId", { clientId: filter.clientId });
    if (filter.aggregate !== undefined) {
      term("e.aggregate_kind = @kind AND e.aggregate_id = @aggregateId", { kind: filter.aggregate.kind, aggregateId: filter.aggregate.id });
    }
    if (filter.resource !== undefined) {
      term("(e.seq, e.idx) IN (SELECT r.seq, r.idx FROM audit_event_resources r WHERE r.resource = @resource)", { resource: filter.resource });
    }
    const types = filter.types ?? [];
    if (types.length > 0) {
      const names = types.map((_, i) => `@type${i}`);
      term(`e.type IN (${names.join(", ")})`, Object.fromEntries(types.map((type, i) => [`type${i}`, type])));
    }
    const limit = Math.max(1, Math.floor(options.limit));
    params.limit = limit + 1;
    const sql = `SELECT ${COLUMNS} FROM audit_events e ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY e.seq, e.idx LIMIT @limit`;
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare<[Params], AuditRow>(sql);
      this.#statements.set(sql, statement);
    }
    const rows = statement.all(params);
    if (rows.length <= limit) return { rows };
    rows.length = limit;
    const last = rows[limit - 1] as AuditRow;
    return { rows, next: { seq: last.seq, index: last.index } };
  }
}
