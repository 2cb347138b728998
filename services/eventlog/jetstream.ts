import {
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  StoreCompression,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StoredMsg,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { connect, headers as natsHeaders, nanos, type NatsConnection } from "@nats-io/transport-node";
import {
  concurrencyConflict,
  isDomainError,
  unavailable,
  validationError,
} from "../domain/shared/errors.js";
import { decodeEnvelope, encodeEnvelope, HEADER_MSG_ID, type StoredMessage } from "./codec.js";
import { followLog, type FollowOptions } from "./follow.js";
import { DEFAULT_SUBJECT_ROOT, streamSubjects, subjectFor } from "./subjects.js";
import { shareRequestCancelError } from "./request-cancel.js";
import type { AggregateRef, AppendRequest, AppendResult, EventLog, RecordedEnvelope } from "./types.js";

// Every request of this adapter and of the KV outcome store goes through nats.js's RequestOne.
shareRequestCancelError();

/** Default name of the log's stream. */
export const DEFAULT_STREAM = "LEDGER";
const DEFAULT_DUPLICATE_WINDOW_MS = 2 * 60_000;
const DEFAULT_TIMEOUT_MS = 5_000;
/**
 * `readAggregate` fetches up to this many messages with direct gets (`next_by_subj`, one round trip
 * each) before it switches to an ordered consumer filtered to the subject (~2 ms to set up, then
 * streamed). Measured on a local nats-server 2.10 (test/int/eventlog/bench.ts, 10k-message stream):
 * 1 message 0.5 ms direct vs 2.2 ms consumer; 5 messages ~1.7 ms either way; 50 messages 14 ms direct
 * vs 3.3 ms consumer; 2000 messages 650 ms direct vs 60 ms consumer.
 */
const DEFAULT_DIRECT_READ_LIMIT = 4;

/** Stream settings; {@link ensureStream} creates or updates the stream to match them. */
export interface StreamOptions {
  /**
   * Read single messages (aggregates, gaps) from the stream leader rather than with direct gets,
   * which any replica may answer, lagging or not (default: true when `replicas` > 1).
   */
  consistentReads?: boolean;
  /** Stream name (default "LEDGER"). */
  stream?: string;
  /** Subject root: the stream captures `<root>.>` (default "ledger"). */
  subjectRoot?: string;
  /** Replicas of the stream: 1 for development, 3 on a cluster (default 1). */
  replicas?: number;
  /**
   * How long JetStream remembers a `Nats-Msg-Id` for dedupe (default 2 minutes). A retry after this
   * window appends again, unless the concurrency check rejects it (it usually does: the first append
   * moved the aggregate's version).
   */
  duplicateWindowMs?: number;
  /**
   * Compression of the stream's files (default "s2"). nats-server (>= 2.10) compresses a message
   * block once it is full and the next one is started, so the block being written stays plain:
   * measured ~2.6x fewer bytes on disk for this log (scripts/bench/findings.md, Storage), with no
   * cost on the append path. The price is on cold reads: a message in a block the server no longer
   * caches costs decompressing its block (~30 ms more per 8 MB block on a 2-core machine).
   * Changing it on an existing stream (an update) leaves written blocks as they are; nats-server
   * 2.10 applies it to blocks sealed after its next restart. `stream info` bytes are the
   * uncompressed size either way.
   */
  compression?: "s2" | "none";
}

/** Options of {@link connectEventLog}. */
export interface JetStreamEventLogOptions extends StreamOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** Connection name, shown by the server's monitoring (default "grant-ledger"). */
  name?: string;
  /**
   * Create or update the stream on connect (default true). Turn off where the account may not
   * manage streams; the stream must then exist.
   */
  ensureStream?: boolean;
  /** Timeout of each JetStream request (publish ack, direct get, API), in ms (default 5000). */
  timeoutMs?: number;
  /**
   * Reconnect attempts before the connection closes for good (default -1: forever). While
   * disconnected, appends fail with `unavailable` after `timeoutMs` and `follow` waits.
   */
  maxReconnectAttempts?: number;
  /** Wait between reconnect attempts to one server, in ms (default 250). */
  reconnectTimeWaitMs?: number;
  /** Heartbeats and recovery of `follow` (see {@link followLog}). */
  follow?: FollowOptions;
}

/** Options of {@link createJetStreamEventLog}, for a connection the caller owns. */
export interface JetStreamEventLogAdapterOptions extends StreamOptions {
  /** Timeout of each JetStream request, in ms (default 5000). */
  timeoutMs?: number;
  /** See {@link DEFAULT_DIRECT_READ_LIMIT}; 0 always uses an ordered consumer (for tests). */
  directReadLimit?: number;
  /** Heartbeats and recovery of `follow` (see {@link followLog}). */
  follow?: FollowOptions;
}

/** The JetStream {@link EventLog}, with its connection for other adapters (KV outcome store, ...). */
export interface JetStreamEventLog extends EventLog {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly stream: string;
  readonly subjectRoot: string;
  /** Creates or updates the stream (idempotent). */
  ensureStream(): Promise<StreamInfo>;
  /** The first message of an aggregate (its creation), read like every single message (see `consistentReads`). */
  first(aggregate: AggregateRef): Promise<RecordedEnvelope | undefined>;
  /** Closes the connection when {@link connectEventLog} opened it; otherwise does nothing. */
  close(): Promise<void>;
}

/**
 * The stream config of an append-only log: file storage, limits retention with no limits, discard
 * old, direct get (fast reads of one message, from any replica), dedupe window, neither delete nor
 * purge allowed through the API, and S2-compressed blocks unless turned off.
 */
export function streamConfig(options: StreamOptions = {}): Partial<StreamConfig> & { name: string } {
  return {
    name: options.stream ?? DEFAULT_STREAM,
    subjects: [streamSubjects(options.subjectRoot ?? DEFAULT_SUBJECT_ROOT)],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: options.replicas ?? 1,
    duplicate_window: nanos(options.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
    allow_direct: true,
    deny_delete: true,
    deny_purge: true,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
    max_msgs_per_subject: -1,
    compression: options.compression === "none" ? StoreCompression.None : StoreCompression.S2,
  };
}

const isApiError = (error: unknown, code: number): boolean =>
  error instanceof JetStreamApiError && error.code === code;

/** Creates the stream, or updates it to {@link streamConfig} when it exists. Safe to race. */
export async function ensureStream(jsm: JetStreamManager, options: StreamOptions = {}): Promise<StreamInfo> {
  const config = streamConfig(options);
  const update = async (): Promise<StreamInfo> => {
    const { name, ...rest } = config;
    return jsm.streams.update(name, rest);
  };
  try {
    await jsm.streams.info(config.name);
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw unavailableFrom("stream info", error);
    try {
      return await jsm.streams.add(config);
    } catch (addError) {
      // Another process created it first (10058: stream name already in use): update instead.
      if (!isApiError(addError, 10058)) throw unavailableFrom("stream create", addError);
    }
  }
  try {
    return await update();
  } catch (error) {
    throw unavailableFrom("stream update", error);
  }
}

/** Wraps a transport or server error as DomainError `unavailable`, keeping DomainErrors as they are. */
function unavailableFrom(what: string, error: unknown): Error {
  if (isDomainError(error)) return error;
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return unavailable(`event log ${what} failed (${detail})`, { cause: error });
}

/**
 * Epoch milliseconds of a JetStream RFC 3339 timestamp with nanoseconds, truncated, so direct gets
 * (which carry the string) and consumers (which carry nanoseconds) agree on `storedAt`.
 */
function isoToMillis(timestamp: string): number {
  return Date.parse(timestamp.replace(/(\.\d{3})\d+/, "$1"));
}

const fromStored = (m: StoredMsg): StoredMessage => ({
  seq: m.seq,
  subject: m.subject,
  body: m.data,
  storedAt: isoToMillis(m.timestamp),
  msgId: m.header.get(HEADER_MSG_ID) || undefined,
});

const fromJsMsg = (m: JsMsg): StoredMessage => ({
  seq: m.seq,
  subject: m.subject,
  body: m.data,
  storedAt: Number(m.timestampNanos / 1_000_000n),
  msgId: m.headers?.get(HEADER_MSG_ID) || undefined,
});

/** Max body size check before publishing is left to the server (max_payload): that is a validation error. */
const MAX_PAYLOAD_CODE = 10054;

/**
 * The JetStream adapter of the {@link EventLog} port over a connection the caller owns (the caller
 * ensures the stream, or calls `ensureStream()`).
 *
 * Dedupe vs concurrency check (verified on nats-server 2.10, test "detects a duplicate before the
 * concurrency check"): the server looks up `Nats-Msg-Id` in the duplicate window BEFORE it checks
 * `Nats-Expected-Last-Subject-Sequence`. So a retry with the same msgId and the same (now stale)
 * expectedVersion gets the original seq with `duplicate: true`, not a conflict. After the dedupe
 * window the msgId is forgotten and the same retry gets a conflict instead.
 */
export async function createJetStreamEventLog(
  nc: NatsConnection,
  options: JetStreamEventLogAdapterOptions = {},
): Promise<JetStreamEventLog> {
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const jsm = await jetstreamManager(nc, { timeout, checkAPI: false });
  return makeLog(nc, jsm, options, async () => undefined);
}

/** Connects to NATS, ensures the stream (unless told not to) and returns the JetStream event log. */
export async function connectEventLog(options: JetStreamEventLogOptions): Promise<JetStreamEventLog> {
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let nc: NatsConnection;
  try {
    nc = await connect({
      // NATS_URL may list a cluster's nodes comma-separated; the client takes a list, not that string.
      servers: typeof options.servers === "string" ? options.servers.split(",").map((s) => s.trim()).filter((s) => s !== "") : options.servers,
      name: options.name ?? "grant-ledger",
      maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
      reconnectTimeWait: options.reconnectTimeWaitMs ?? 250,
      timeout,
      // Async stack traces cost a captured Error per request on the append path; errors here are
      // mapped to domain errors with their own messages anyway.
      noAsyncTraces: true,
    });
  } catch (error) {
    throw unavailableFrom("connect", error);
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout, checkAPI: false });
    const log = makeLog(nc, jsm, options, async () => {
      if (!nc.isClosed()) await nc.close();
    });
    if (options.ensureStream ?? true) await log.ensureStream();
    return log;
  } catch (error) {
    await nc.close();
    throw unavailableFrom("setup", error);
  }
}

function makeLog(
  nc: NatsConnection,
  jsm: JetStreamManager,
  options: JetStreamEventLogAdapterOptions,
  closeConnection: () => Promise<void>,
): JetStreamEventLog {
  const stream = options.stream ?? DEFAULT_STREAM;
  const root = options.subjectRoot ?? DEFAULT_SUBJECT_ROOT;
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const directReadLimit = options.directReadLimit ?? DEFAULT_DIRECT_READ_LIMIT;
  const js = jsm.jetstream();
  const decode = (m: StoredMessage): RecordedEnvelope => decodeEnvelope(m, root);

  // On a replicated stream a direct get may be answered by a follower that has not applied the
  // latest appends yet: a command would then decide against a stale aggregate (a grant it was just
  // told exists reads as "not found"; found by the cluster fault test). The leader's message API
  // answers from the committed state instead.
  const leaderReads = options.consistentReads ?? (options.replicas ?? 1) > 1;
  const readMessage = async (
    query: { seq: number } | { last_by_subj: string } | { next_by_subj: string; seq: number },
  ): Promise<StoredMsg | null> => {
    try {
      return leaderReads ? await jsm.streams.getMessage(stream, query) : await jsm.direct.getMessage(stream, query);
    } catch (error) {
      throw unavailableFrom(leaderReads ? "message get" : "direct get", error);
    }
  };

  const get = async (seq: number): Promise<RecordedEnvelope | undefined> => {
    if (!Number.isInteger(seq) || seq < 1) return undefined;
    const m = await readMessage({ seq });
    return m === null ? undefined : decode(fromStored(m));
  };

  /** Reads `subject` from `fromSeq` through `lastSeq` with an ordered consumer filtered to it. */
  const readWithConsumer = async (subject: string, fromSeq: number, lastSeq: number): Promise<RecordedEnvelope[]> => {
    const out: RecordedEnvelope[] = [];
    let consumer;
    try {
      consumer = await js.consumers.get(stream, {
        filter_subjects: subject,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: fromSeq,
        inactive_threshold: 30_000,
      });
    } catch (error) {
      throw unavailableFrom("read", error);
    }
    const messages = await consumer.consume({ max_messages: 512, expires: Math.max(1_000, timeout) });
    // Fails the read instead of hanging when the server stops answering.
    let lastProgress = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > timeout) messages.stop(new Error(`no message for ${timeout} ms`));
    }, Math.min(timeout, 1_000));
    try {
      for await (const m of messages) {
        lastProgress = Date.now();
        if (m.seq > lastSeq) break;
        out.push(decode(fromJsMsg(m)));
        if (m.seq === lastSeq) break;
      }
    } catch (error) {
      throw unavailableFrom("read", error);
    } finally {
      clearInterval(watchdog);
      messages.stop();
      consumer.delete().catch(() => undefined);
    }
    if (out.at(-1)?.seq !== lastSeq) throw unavailable(`read of ${subject} ended before sequence ${lastSeq}`);
    return out;
  };

  const log: JetStreamEventLog = {
    nc,
    js,
    jsm,
    stream,
    subjectRoot: root,

    ensureStream: () => ensureStream(jsm, options),

    async append(request: AppendRequest): Promise<AppendResult> {
      const encoded = encodeEnvelope(request);
      const subject = subjectFor(request.aggregate, root);
      const h = natsHeaders();
      for (const [key, value] of Object.entries(encoded.headers)) h.set(key, value);
      try {
        const ack = await js.publish(subject, encoded.body, {
          msgID: request.msgId,
          expect: { lastSubjectSequence: request.expectedVersion, streamName: stream },
          headers: h,
          timeout,
        });
        if (ack.duplicate && !(ack.seq >= 1)) {
          // On a cluster, a retry that arrives while the first publish of its msgId is still being
          // replicated is a duplicate with sequence 0: the original's sequence is not known yet.
          // Answering with 0 would break read-your-writes (found by the cluster fault test; upstream:
          // nats-io/nats-server#5827).
          throw unavailable(`the first append of message ${request.msgId.slice(0, 12)}… is still being replicated; retry`);
        }
        return ack.duplicate ? { seq: ack.seq, duplicate: true, hash: null } : { seq: ack.seq, duplicate: false, hash: encoded.hash };
      } catch (error) {
        if (
          isApiError(error, JetStreamApiCodes.StreamWrongLastSequence) ||
          isApiError(error, JetStreamApiCodes.StreamWrongLastSequenceUnknown)
        ) {
          throw concurrencyConflict(
            `${request.aggregate.kind} ${request.aggregate.id} is no longer at version ${request.expectedVersion}`,
            { cause: error },
          );
        }
        if (isApiError(error, MAX_PAYLOAD_CODE)) {
          throw validationError(`message of ${encoded.body.length} bytes is too large for the log`, {
            field: "events",
            cause: error,
          });
        }
        // Timeouts, a closed or reconnecting connection, no responders (stream or server gone):
        // the append may or may not have landed; a retry with the same msgId is safe.
        throw unavailableFrom("append", error);
      }
    },

    async readAggregate(aggregate: AggregateRef, afterSeq = 0): Promise<RecordedEnvelope[]> {
      const subject = subjectFor(aggregate, root);
      const last = await readMessage({ last_by_subj: subject });
      if (last === null || last.seq <= afterSeq) return [];
      const out: RecordedEnvelope[] = [];
      let cursor = afterSeq + 1;
      // Small aggregates: walk with direct gets; large ones: finish with an ordered consumer.
      for (let i = 0; i < directReadLimit; i++) {
        const m = cursor === last.seq ? last : await readMessage({ next_by_subj: subject, seq: cursor });
        if (m === null) throw unavailable(`message ${last.seq} of ${subject} vanished during the read`);
        out.push(decode(fromStored(m)));
        if (m.seq >= last.seq) return out;
        cursor = m.seq + 1;
      }
      out.push(...(await readWithConsumer(subject, cursor, last.seq)));
      return out;
    },

    get,

    async first(aggregate: AggregateRef): Promise<RecordedEnvelope | undefined> {
      const m = await readMessage({ next_by_subj: subjectFor(aggregate, root), seq: 1 });
      return m === null ? undefined : decode(fromStored(m));
    },

    async headSequence(): Promise<number> {
      try {
        return (await jsm.streams.info(stream)).state.last_seq;
      } catch (error) {
        throw unavailableFrom("stream info", error);
      }
    },

    follow(fromSeq: number, signal: AbortSignal): AsyncIterable<RecordedEnvelope> {
      return followLog({ nc, js, stream, get, decode: (m) => decode(fromJsMsg(m)) }, fromSeq, signal, options.follow);
    },

    close: closeConnection,
  };
  return log;
}
