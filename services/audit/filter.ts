import { subjectFor } from "../eventlog/subjects.js";
import type { AggregateKind, AggregateRef } from "../eventlog/types.js";
import { type AuditRecord, type EventFacts, KIND_BY_EVENT_TYPE } from "./records.js";

/**
 * What auditors filter on; every given field must match (AND), an empty filter matches everything.
 * Sequences are inclusive; times are the half-open range [fromTime, toTime) over the event's
 * decision time (`at`).
 */
export interface AuditFilter {
  readonly aggregate?: AggregateRef;
  /** The user the event concerns. */
  readonly subject?: string;
  readonly clientId?: string;
  /** A resource the event's grant covers. */
  readonly resource?: string;
  readonly actor?: string;
  /** Any of these types (none: every type). */
  readonly types?: readonly string[];
  /** Epoch milliseconds, inclusive. */
  readonly fromTime?: number;
  /** Epoch milliseconds, exclusive. */
  readonly toTime?: number;
  readonly fromSeq?: number;
  readonly toSeq?: number;
}

/** True when matching needs the grant-derived facts (subject, client, resources). */
export const needsFacts = (filter: AuditFilter): boolean =>
  filter.subject !== undefined || filter.clientId !== undefined || filter.resource !== undefined;

/** The checks that need only the record itself. */
export function matchesRecord(filter: AuditFilter, record: AuditRecord): boolean {
  if (filter.fromSeq !== undefined && record.seq < filter.fromSeq) return false;
  if (filter.toSeq !== undefined && record.seq > filter.toSeq) return false;
  if (filter.fromTime !== undefined && record.at < filter.fromTime) return false;
  if (filter.toTime !== undefined && record.at >= filter.toTime) return false;
  if (filter.actor !== undefined && record.actor !== filter.actor) return false;
  if (filter.types !== undefined && filter.types.length > 0 && !filter.types.includes(record.type)) return false;
  const { aggregate } = filter;
  if (aggregate !== undefined && (record.aggregate.kind !== aggregate.kind || record.aggregate.id !== aggregate.id)) return false;
  return true;
}

/** The checks on who and what the event concerns. */
export function matchesFacts(filter: AuditFilter, facts: EventFacts): boolean {
  if (filter.subject !== undefined && facts.subject !== filter.subject) return false;
  if (filter.clientId !== undefined && facts.clientId !== filter.clientId) return false;
  if (filter.resource !== undefined && !facts.resources.includes(filter.resource)) return false;
  return true;
}

/** Per aggregate kind: every id ("all") or only these ids. A kind not in the map is excluded. */
type KindConstraint = Map<AggregateKind, "all" | ReadonlySet<string>>;

const intersect = (a: KindConstraint | undefined, b: KindConstraint | undefined): KindConstraint | undefined => {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const out: KindConstraint = new Map();
  for (const [kind, left] of a) {
    const right = b.get(kind);
    if (right === undefined) continue;
    if (left === "all") out.set(kind, right);
    else if (right === "all") out.set(kind, left);
    else {
      const both = new Set([...left].filter((id) => right.has(id)));
      if (both.size > 0) out.set(kind, both);
    }
  }
  return out;
};

/**
 * The stream subjects that can hold a matching event, for the consumer's `filter_subjects`, so the
 * server skips the rest: an aggregate filter reads that one subject (the server's per-subject index
 * finds its messages without reading the others). `undefined`: no narrowing (read every subject);
 * `[]`: nothing can match.
 *
 * Only exact subjects are pushed down. A wildcard filter (`ledger.grant.*`, which a user, client or
 * resource filter would need) is far slower on nats-server 2.10 than reading every message and
 * filtering here: over 100k messages on 5k subjects, unfiltered 0.8 s, `ledger.grant.*` 12 s, and
 * `[ledger.grant.*, ledger.subject.<user>]` 238 s (test/int/audit/bench-replay.ts and its notes).
 */
export function pushdownSubjects(filter: AuditFilter, root: string): string[] | undefined {
  let constraint: KindConstraint | undefined;
  const add = (c: KindConstraint): void => {
    constraint = intersect(constraint, c);
  };
  if (filter.aggregate !== undefined) add(new Map([[filter.aggregate.kind, new Set([filter.aggregate.id])]]));
  if (filter.subject !== undefined) add(new Map<AggregateKind, "all" | Set<string>>([["grant", "all"], ["subject", new Set([filter.subject])]]));
  if (filter.clientId !== undefined) add(new Map<AggregateKind, "all" | Set<string>>([["client", new Set([filter.clientId])], ["grant", "all"]]));
  if (filter.resource !== undefined) add(new Map([["grant", "all"]]));
  if (filter.types !== undefined && filter.types.length > 0) {
    const kinds = filter.types.map((type) => KIND_BY_EVENT_TYPE.get(type));
    // An event type this build does not place on an aggregate: no narrowing by type.
    if (kinds.every((kind) => kind !== undefined)) add(new Map(kinds.map((kind) => [kind, "all"])));
  }
  if (constraint === undefined) return undefined;
  const subjects: string[] = [];
  for (const [kind, ids] of constraint) {
    if (ids === "all") return undefined;
    for (const id of ids) subjects.push(subjectFor({ kind, id }, root));
  }
  return subjects;
}
