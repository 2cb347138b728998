import { DeliverPolicy, type JsMsg } from "@nats-io/jetstream";
import { isDomainError, unavailable } from "../domain/shared/errors.js";
import { decodeEnvelope } from "../eventlog/codec.js";
import type { JetStreamEventLog } from "../eventlog/jetstream.js";
import { type AuditFilter, matchesFacts, matchesRecord, needsFacts, pushdownSubjects } from "./filter.js";
import { messagePrefilter } from "./prefilter.js";
import { type AuditRecord, auditRecords, factsOf, type GrantFacts, grantFactsOf, ownFacts } from "./records.js";
import { setBounded } from "../domain/shared/bounded-map.js";

/** Options of {@link replayEvents}. */
export interface ReplayOptions {
  readonly filter: AuditFilter;
  /** Keep streaming new events after the head (default false: stop at the head as of the start). */
  readonly follow?: boolean;
  /** Ends the replay (the iterator returns; no error). */
  readonly signal: AbortSignal;
  /**
   * Called after each message read (matching or not) with its sequence and the sequence the replay
   * ends at (Infinity while following): for progress bars.
   */
  readonly onProgress?: (seq: number, endSeq: number) => void;
  /** Messages per pull from the server (default 1024). */
  readonly pullSize?: number;
  /** Grants whose subject/client are remembered for subject/client/resource filters (default 200k). */
  readonly grantCacheSize?: number;
}

/** Remembers grant facts, bounded (oldest out first). */
class GrantCache {
  readonly #map = new Map<string, GrantFacts>();
  constructor(private readonly max: number) {}
  get = (grantId: string): GrantFacts | undefined => this.#map.get(grantId);
  set(grantId: string, facts: GrantFacts): void {
    setBounded(this.#map, grantId, facts, this.max);
  }
}

/**
 * Streams the log's events in stream order, filtered, straight from JetStream: the log, not a read
 * model. Reads with one ordered consumer (flow-controlled, no acks) narrowed server-side where the
 * filter allows ({@link pushdownSubjects}; a sequence range starts the consumer at `fromSeq`), then
 * checks every record against the whole filter. Filters on the user, client or resource resolve an
 * event's grant from the grant's creation: seen earlier in the replay, or fetched once with a direct
 * get of the grant subject's first message. A type, actor, user, client or resource filter first
 * looks at each message's raw bytes ({@link messagePrefilter}) and decodes only those that can
 * match, so a narrow replay runs near the speed of reading the log raw.
 *
 * A message that is decoded and fails stops the replay with its error: a matching event is never
 * skipped (a damaged message no filter can match is `audit verify`'s to report).
 * Throws DomainError `unavailable` when the log cannot be read.
 */
export async function* replayEvents(log: JetStreamEventLog, options: ReplayOptions): AsyncGenerator<AuditRecord> {
  const { filter, signal } = options;
  const follow = options.follow ?? false;
  if (signal.aborted) return;
  const filterSubjects = pushdownSubjects(filter, log.subjectRoot);
  if (filterSubjects !== undefined && filterSubjects.length === 0) return;
  const startSeq = Math.max(1, filter.fromSeq ?? 1);
  const head = follow ? Number.POSITIVE_INFINITY : await log.headSequence();
  const endSeq = Math.min(filter.toSeq ?? Number.POSITIVE_INFINITY, head);
  if (startSeq > endSeq) return;

  const grants = new GrantCache(options.grantCacheSize ?? 200_000);
  const withFacts = needsFacts(filter);
  const prefilter = messagePrefilter(filter, log.subjectRoot, grants.get);
  const fetchGrant = async (grantId: string): Promise<void> => {
    const envelope = await log.first({ kind: "grant", id: grantId });
    if (envelope === undefined) return;
    for (const record of auditRecords(envelope)) {
      const created = grantFactsOf(record);
      if (created !== undefined) grants.set(...created);
    }
  };

  let consumer;
  try {
    consumer = await log.js.consumers.get(log.stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: startSeq,
      ...(filterSubjects === undefined ? {} : { filter_subjects: filterSubjects }),
    });
  } catch (error) {
    throw isDomainError(error) ? error : unavailable(`cannot open a replay consumer (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  try {
    // The consumer was created at startSeq: nothing pending means nothing (matching) to read.
    if (!follow && (await consumer.info(true)).num_pending === 0) return;
    const messages = await consumer.consume({ max_messages: options.pullSize ?? 1024 });
    const stop = (): void => void messages.close();
    signal.addEventListener("abort", stop, { once: true });
    let reachedEnd = false;
    try {
      for await (const m of messages as AsyncIterable<JsMsg>) {
        if (signal.aborted) return;
        if (m.seq > endSeq) {
          reachedEnd = true;
          break;
        }
        if (prefilter === undefined || prefilter(m.subject, m.data)) {
          const envelope = decodeEnvelope(
            { seq: m.seq, subject: m.subject, body: m.data, storedAt: Math.floor(m.info.timestampNanos / 1e6) },
            log.subjectRoot,
          );
          for (const record of auditRecords(envelope)) {
            if (withFacts) {
              const created = grantFactsOf(record);
              if (created !== undefined) grants.set(...created);
            }
            if (!matchesRecord(filter, record)) continue;
            if (withFacts) {
              const { grantId } = ownFacts(record);
              if (grantId !== null && grants.get(grantId) === undefined) await fetchGrant(grantId);
              if (!matchesFacts(filter, factsOf(record, grants.get))) continue;
            }
            yield record;
            if (signal.aborted) return;
          }
        }
        options.onProgress?.(m.seq, endSeq);
        // pending: matching messages left after this one, as of its delivery.
        if (m.seq >= endSeq || (!follow && m.info.pending === 0)) {
          reachedEnd = true;
          break;
        }
      }
      if (!reachedEnd && !signal.aborted) throw unavailable("replay stopped: the NATS connection closed");
    } finally {
      signal.removeEventListener("abort", stop);
      messages.stop();
    }
  } finally {
    consumer.delete().catch(() => undefined);
  }
}
