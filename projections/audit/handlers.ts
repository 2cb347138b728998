import type { Database, Statement } from "better-sqlite3";
import { auditRecords, factsOf, type GrantFacts, grantFactsOf } from "../../services/audit/records.js";
import type { RecordedEnvelope } from "../../services/eventlog/types.js";
import type { Projection } from "../runner/projection.js";
import { migrateAudit } from "./schema.js";

export const AUDIT_PROJECTION_NAME = "audit";
export const AUDIT_PROJECTION_VERSION = 1;

/** The write statements of the audit projection, prepared once per connection. */
export interface AuditStatements {
  readonly insertEvent: Statement<
    [number, number, number, string, number, string, string, string, string, string, string | null, string | null, string | null, string, string]
  >;
  readonly insertResource: Statement<[string, number, number]>;
  readonly upsertGrant: Statement<[string, string, string, string]>;
  readonly getGrant: Statement<[string], { subject: string; clientId: string; resources: string }>;
}

export function prepareAuditStatements(db: Database): AuditStatements {
  return {
    insertEvent: db.prepare(`
      INSERT INTO audit_events (seq, idx, at, type, version, actor, request_id, event_id, aggregate_kind, aggregate_id,
                                subject, client_id, grant_id, resources, payload)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    insertResource: db.prepare("INSERT OR IGNORE INTO audit_event_resources (resource, seq, idx) VALUES (?, ?, ?)"),
    upsertGrant: db.prepare(`
      INSERT INTO audit_grants (grant_id, subject, client_id, resources) VALUES (?, ?, ?, ?)
      ON CONFLICT (grant_id) DO UPDATE SET subject = excluded.subject, client_id = excluded.client_id, resources = excluded.resources`),
    getGrant: db.prepare("SELECT subject, client_id AS clientId, resources FROM audit_grants WHERE grant_id = ?"),
  };
}

/**
 * Applies one message: a row per event, whatever its type. The audit trail is generic on purpose:
 * every event, including types added after this projection, is recorded with its type, actor,
 * aggregate and payload, and its user / client / resources are read from the payload and, for
 * events that name only their grant, from the grant's creation (see services/audit/records.ts).
 * A grant-aggregate event whose payload names the grant, its user and its client (its creation)
 * records those in `audit_grants`.
 */
export function applyAuditEnvelope(statements: AuditStatements, envelope: RecordedEnvelope): void {
  const lookupGrant = (grantId: string): GrantFacts | undefined => {
    const row = statements.getGrant.get(grantId);
    return row === undefined ? undefined : { subject: row.subject, clientId: row.clientId, resources: JSON.parse(row.resources) as string[] };
  };
  for (const record of auditRecords(envelope)) {
    const created = grantFactsOf(record);
    if (created !== undefined) {
      const [grantId, grant] = created;
      statements.upsertGrant.run(grantId, grant.subject, grant.clientId, JSON.stringify(grant.resources));
    }
    const facts = factsOf(record, lookupGrant);
    statements.insertEvent.run(
      record.seq,
      record.index,
      record.at,
      record.type,
      record.schemaVersion,
      record.actor,
      record.requestId,
      record.eventId,
      record.aggregate.kind,
      record.aggregate.id,
      facts.subject,
      facts.clientId,
      facts.grantId,
      JSON.stringify(facts.resources),
      JSON.stringify(record.payload),
    );
    for (const resource of facts.resources) statements.insertResource.run(resource, record.seq, record.index);
  }
}

/** The audit projection, for the runner (file `<dataDir>/projections/audit.v1.db`). */
export function createAuditProjection(): Projection {
  const statements = new WeakMap<Database, AuditStatements>();
  return {
    name: AUDIT_PROJECTION_NAME,
    version: AUDIT_PROJECTION_VERSION,
    migrate: migrateAudit,
    apply(db: Database, envelope: RecordedEnvelope): void {
      let prepared = statements.get(db);
      if (prepared === undefined) {
        prepared = prepareAuditStatements(db);
        statements.set(db, prepared);
      }
      applyAuditEnvelope(prepared, envelope);
    },
  };
}

export const AUDIT_PROJECTION: Projection = createAuditProjection();
