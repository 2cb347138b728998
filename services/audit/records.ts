import { clientEventSchemas } from "../domain/client/events.js";
import { CURRENT_SCHEMA_VERSION, isLedgerEventType } from "../domain/events.js";
import { grantEventSchemas } from "../domain/grant/events.js";
import { subjectEventSchemas } from "../domain/subject/events.js";
import type { AggregateKind, AggregateRef, RecordedEnvelope } from "../eventlog/types.js";

/**
 * One event as auditors see it. A message holding several events yields one record each, with the
 * same `seq` and an increasing `index`: (seq, index) is the total order of the audit trail.
 */
export interface AuditRecord {
  readonly seq: number;
  readonly index: number;
  /** Decision time (the envelope's `at`), epoch milliseconds: what time filters and GetStateAt use. */
  readonly at: number;
  readonly type: string;
  /** Schema version of `payload` as decoded (old versions are upcast on read, so the current one). */
  readonly schemaVersion: number;
  readonly actor: string;
  readonly requestId: string;
  readonly eventId: string;
  readonly aggregate: AggregateRef;
  /** The validated event data: hashes only, never a token, code or secret (the schemas hold none). */
  readonly payload: unknown;
}

/** The records of one message, in order. */
export function auditRecords(envelope: RecordedEnvelope): AuditRecord[] {
  return envelope.events.map((event, index) => ({
    seq: envelope.seq,
    index,
    at: envelope.at,
    type: event.type,
    schemaVersion: isLedgerEventType(event.type) ? CURRENT_SCHEMA_VERSION[event.type] : 0,
    actor: envelope.actor,
    requestId: envelope.requestId,
    eventId: envelope.eventId,
    aggregate: envelope.aggregate,
    payload: event.data,
  }));
}

/** Who and what an event concerns, beyond its aggregate: the questions auditors filter on. */
export interface EventFacts {
  /** The user (OAuth subject). */
  readonly subject: string | null;
  readonly clientId: string | null;
  readonly grantId: string | null;
  readonly resources: readonly string[];
}

/** What a grant's creation says about every later event of that grant. */
export interface GrantFacts {
  readonly subject: string;
  readonly clientId: string;
  readonly resources: readonly string[];
}

/** Resolves a grant id to its subject, client and resources; undefined when unknown. */
export type GrantLookup = (grantId: string) => GrantFacts | undefined;

const stringField = (payload: unknown, key: string): string | null => {
  if (typeof payload !== "object" || payload === null) return null;
  const value = (payload as Record<string, unknown>)[key];
  return typeof value === "string" ? value : null;
};

const stringListField = (payload: unknown, key: string): string[] | null => {
  if (typeof payload !== "object" || payload === null) return null;
  const value = (payload as Record<string, unknown>)[key];
  return Array.isArray(value) && value.every((v) => typeof v === "string") ? (value) : null;
};

/**
 * The facts an event carries itself, read generically (so event types added later are covered
 * without a change here): its aggregate names a client, grant or subject, and the payload's
 * `subject`, `clientId`, `grantId` and `resources` fields, when present, name the rest.
 */
export function ownFacts(record: Pick<AuditRecord, "aggregate" | "payload">): EventFacts {
  const { aggregate, payload } = record;
  const byKind = (kind: AggregateKind): string | null => (aggregate.kind === kind ? aggregate.id : null);
  return {
    subject: stringField(payload, "subject") ?? byKind("subject"),
    clientId: stringField(payload, "clientId") ?? byKind("client"),
    grantId: stringField(payload, "grantId") ?? byKind("grant"),
    resources: stringListField(payload, "resources") ?? [],
  };
}

/**
 * The grant facts a record establishes (a grant's creation: grant id, subject and client in one
 * payload); undefined for any other record.
 */
export function grantFactsOf(record: Pick<AuditRecord, "aggregate" | "payload">): [string, GrantFacts] | undefined {
  const own = ownFacts(record);
  if (record.aggregate.kind !== "grant" || own.grantId === null || own.subject === null || own.clientId === null) return undefined;
  return [own.grantId, { subject: own.subject, clientId: own.clientId, resources: own.resources }];
}

/**
 * Every fact of an event: its own, completed from its grant's creation for events that name only
 * their grant (token.issued carries `grantId` alone).
 */
export function factsOf(record: Pick<AuditRecord, "aggregate" | "payload">, lookupGrant: GrantLookup): EventFacts {
  const own = ownFacts(record);
  if (own.grantId === null || (own.subject !== null && own.clientId !== null && own.resources.length > 0)) return own;
  const grant = lookupGrant(own.grantId);
  if (grant === undefined) return own;
  return {
    subject: own.subject ?? grant.subject,
    clientId: own.clientId ?? grant.clientId,
    grantId: own.grantId,
    resources: own.resources.length > 0 ? own.resources : grant.resources,
  };
}

/**
 * The aggregate kind each known event type lives on, from the domain's schema groups. A type
 * missing here (added on a new aggregate) just gets no server-side subject filter.
 */
export const KIND_BY_EVENT_TYPE: ReadonlyMap<string, AggregateKind> = new Map<string, AggregateKind>([
  ...Object.keys(clientEventSchemas).map((type): [string, AggregateKind] => [type, "client"]),
  ...Object.keys(grantEventSchemas).map((type): [string, AggregateKind] => [type, "grant"]),
  ...Object.keys(subjectEventSchemas).map((type): [string, AggregateKind] => [type, "subject"]),
]);

/** A record as one JSON object: the `audit replay --format jsonl` line, field for field the RPC's AuditEvent. */
export interface AuditRecordJson {
  readonly sequence: number;
  readonly index: number;
  readonly time: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly actor: string;
  readonly requestId: string;
  readonly eventId: string;
  readonly aggregate: { readonly kind: string; readonly id: string };
  readonly payload: unknown;
}

export const recordToJson = (r: AuditRecord): AuditRecordJson => ({
  sequence: r.seq,
  index: r.index,
  time: new Date(r.at).toISOString(),
  type: r.type,
  schemaVersion: r.schemaVersion,
  actor: r.actor,
  requestId: r.requestId,
  eventId: r.eventId,
  aggregate: { kind: r.aggregate.kind, id: r.aggregate.id },
  payload: r.payload,
});
