import type { Database } from "better-sqlite3";

/**
 * The audit trail read model: one row per event, keyed by its position in the log (seq, idx), with
 * who and what it concerns resolved at write time, so each question auditors ask is one index range
 * read in log order:
 * - everything a user granted or revoked: `audit_by_subject`;
 * - everything an app did or had done to it: `audit_by_client`;
 * - everything an operator did: `audit_by_actor`;
 * - one aggregate's history: `audit_by_aggregate`; one grant's: `audit_by_grant`;
 * - between two instants: `audit_by_time` (or the same ranges above, filtered by `at`);
 * - by resource: `audit_event_resources`.
 * Secondary indexes end with (seq, idx), so a range is read in log order and a page is a seek.
 *
 * `audit_grants` resolves a grant id to its user, client and resources for the events that name
 * only their grant (token.issued carries grantId alone).
 */
export const AUDIT_SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_events (
  seq            INTEGER NOT NULL,
  idx            INTEGER NOT NULL,        -- position of the event in its message
  at             INTEGER NOT NULL,        -- decision time, epoch ms
  type           TEXT NOT NULL,
  version        INTEGER NOT NULL,        -- schema version of payload
  actor          TEXT NOT NULL,
  request_id     TEXT NOT NULL,
  event_id       TEXT NOT NULL,
  aggregate_kind TEXT NOT NULL,
  aggregate_id   TEXT NOT NULL,
  subject        TEXT,                    -- the user it concerns, when any
  client_id      TEXT,
  grant_id       TEXT,
  resources      TEXT NOT NULL,           -- JSON array
  payload        TEXT NOT NULL,           -- JSON, hashes only
  PRIMARY KEY (seq, idx)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit_events (subject, seq, idx) WHERE subject IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_client ON audit_events (client_id, seq, idx) WHERE client_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_grant ON audit_events (grant_id, seq, idx) WHERE grant_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit_events (actor, seq, idx);
CREATE INDEX IF NOT EXISTS audit_by_aggregate ON audit_events (aggregate_kind, aggregate_id, seq, idx);
CREATE INDEX IF NOT EXISTS audit_by_type ON audit_events (type, seq, idx);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_events (at, seq, idx);

CREATE TABLE IF NOT EXISTS audit_event_resources (
  resource TEXT NOT NULL,
  seq      INTEGER NOT NULL,
  idx      INTEGER NOT NULL,
  PRIMARY KEY (resource, seq, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS audit_grants (
  grant_id  TEXT PRIMARY KEY,
  subject   TEXT NOT NULL,
  client_id TEXT NOT NULL,
  resources TEXT NOT NULL                 -- JSON array
) STRICT, WITHOUT ROWID;
`;

export const migrateAudit = (db: Database): void => {
  db.exec(AUDIT_SCHEMA);
};
