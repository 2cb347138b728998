import { foldEnvelopes, type Loaded } from "../commands/aggregate-store.js";
import { clientDecider } from "../domain/client/decider.js";
import type { LedgerEvent } from "../domain/events.js";
import { grantDecider } from "../domain/grant/decider.js";
import { assertNever, type Decider } from "../domain/shared/decider.js";
import { illegalState, validationError } from "../domain/shared/errors.js";
import { subjectDecider } from "../domain/subject/decider.js";
import type { AggregateKind, AggregateRef, EventLog, RecordedEnvelope } from "../eventlog/types.js";
import { type AuditRecord, auditRecords } from "./records.js";

type AnyDecider = Decider<unknown, LedgerEvent, unknown>;

/**
 * The write side's decider of each aggregate kind: its `evolve` is the one audits fold with.
 * Undefined for the log's own checkpoints, which have no state to fold (GetCheckpoint serves them).
 */
export function deciderFor(kind: AggregateKind): AnyDecider | undefined {
  switch (kind) {
    case "client":
      return clientDecider;
    case "grant":
      return grantDecider;
    case "subject":
      return subjectDecider;
    case "checkpoint":
      return undefined;
    default:
      return assertNever(kind, "aggregate kind");
  }
}

/**
 * An aggregate state as JSON: Maps become objects, Sets arrays (in insertion order; a
 * PersistentMap turns itself into an object the same way); everything else is already plain data. States hold hashes only, never a token or secret.
 */
export const stateToJson = (state: unknown): string =>
  JSON.stringify(state, (_key, value: unknown) => {
    if (value instanceof Map) return Object.fromEntries(value as Map<string, unknown>);
    if (value instanceof Set) return [...(value as Set<unknown>)];
    return value;
  });

/** Where to stop folding: at a stream sequence (inclusive), at an instant (inclusive), or the head. */
export type PointInTime = { readonly sequence: number } | { readonly time: number } | "head";

export interface StateAt {
  readonly stateJson: string;
  /** Sequence of the last message folded in; 0 when the aggregate did not exist yet. */
  readonly sequence: number;
  readonly exists: boolean;
}

/**
 * The messages of an aggregate up to `at`. Times cut the history at the first message decided
 * after the instant: a past state is always a prefix of the history, whatever the clocks did.
 */
function prefix(envelopes: readonly RecordedEnvelope[], at: PointInTime): readonly RecordedEnvelope[] {
  if (at === "head") return envelopes;
  const after = "sequence" in at ? (e: RecordedEnvelope) => e.seq > at.sequence : (e: RecordedEnvelope) => e.at > at.time;
  const cut = envelopes.findIndex(after);
  return cut === -1 ? envelopes : envelopes.slice(0, cut);
}

function statefulDecider(ref: AggregateRef): AnyDecider {
  const decider = deciderFor(ref.kind);
  if (decider === undefined) throw validationError(`a ${ref.kind} aggregate has no state to fold`, { field: "aggregate.kind" });
  return decider;
}

const empty = (decider: AnyDecider): Loaded<unknown> => ({ state: decider.initialState, version: 0, lastHash: null, firstVersion: 0 });

/**
 * The state of one aggregate at a point in time, computed by folding its messages with the write
 * side's own fold ({@link foldEnvelopes}).
 */
export async function getStateAt(log: EventLog, ref: AggregateRef, at: PointInTime): Promise<StateAt> {
  const decider = statefulDecider(ref);
  const envelopes = prefix(await log.readAggregate(ref), at);
  const loaded = foldEnvelopes(decider, empty(decider), envelopes);
  return { stateJson: stateToJson(loaded.state), sequence: loaded.version, exists: loaded.version > 0 };
}

export interface HistoryStep {
  readonly record: AuditRecord;
  /** The aggregate's state right after this event. */
  readonly stateJson: string;
}

/** Where a page of history starts: after the event at (seq, index). */
export interface HistoryCursor {
  readonly seq: number;
  readonly index: number;
}

/** Which part of the history to return (default: all of it). */
export interface HistoryPage {
  readonly after?: HistoryCursor;
  /** At most this many steps; 0 or unset: no limit (the byte limit still applies). */
  readonly limit?: number;
}

/**
 * Every event of one aggregate, in order, with the state after each (the same fold, one event at a
 * time); or one page of them. Every page folds from the first event (a state depends on all before
 * it) but serializes only its own steps. `next` is set when steps remain after the page.
 * Throws DomainError `illegal_state` when the page's states add up to more than `maxStateBytes` (a
 * grant with very many tokens: ask for smaller pages).
 */
export async function getHistory(
  log: EventLog,
  ref: AggregateRef,
  maxStateBytes = Number.POSITIVE_INFINITY,
  page: HistoryPage = {},
): Promise<{ steps: HistoryStep[]; next?: HistoryCursor }> {
  const decider = statefulDecider(ref);
  const limit = page.limit !== undefined && page.limit > 0 ? page.limit : Number.POSITIVE_INFINITY;
  const after = page.after;
  let loaded = empty(decider);
  let bytes = 0;
  const steps: HistoryStep[] = [];
  for (const envelope of await log.readAggregate(ref)) {
    const records = auditRecords(envelope);
    for (const [i, event] of envelope.events.entries()) {
      loaded = foldEnvelopes(decider, loaded, [{ ...envelope, events: [event] }]);
      if (after !== undefined && (envelope.seq < after.seq || (envelope.seq === after.seq && i <= after.index))) continue;
      if (steps.length >= limit) {
        const last = steps.at(-1)?.record;
        return { steps, ...(last === undefined ? {} : { next: { seq: last.seq, index: last.index } }) };
      }
      const stateJson = stateToJson(loaded.state);
      bytes += stateJson.length;
      if (bytes > maxStateBytes) {
        throw illegalState(
          `the history of ${ref.kind} ${ref.id} holds more than ${maxStateBytes} bytes of state; ask for smaller pages (page_size), or use GetStateAt or ReplayEvents`,
        );
      }
      steps.push({ record: records[i] as AuditRecord, stateJson });
    }
  }
  return { steps };
}
