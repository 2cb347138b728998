import type { LedgerEvent } from "../domain/events.js";

/** `checkpoint` has one instance, `log`: the signed checkpoints of the stream (services/audit). */
export type AggregateKind = "client" | "grant" | "subject" | "checkpoint";

/** One aggregate instance; its events live on subject `ledger.<kind>.<encoded id>`. */
export interface AggregateRef {
  readonly kind: AggregateKind;
  readonly id: string;
}

/** Who did it, when, and why: recorded with every appended message. */
export interface EnvelopeMeta {
  /** Unique id of this message (also sent as a header). */
  readonly eventId: string;
  /** Epoch milliseconds at decision time. */
  readonly at: number;
  /** The caller's identity. */
  readonly actor: string;
  /** The caller's request id (idempotency key). */
  readonly requestId: string;
}

export interface AppendRequest {
  readonly aggregate: AggregateRef;
  /** The aggregate's last subject sequence the decision was made against; 0 for a new aggregate. */
  readonly expectedVersion: number;
  /** JetStream `Nats-Msg-Id` for dedupe, derived from the caller's request id. */
  readonly msgId: string;
  readonly meta: EnvelopeMeta;
  /** Hash of the aggregate's previous message ({@link RecordedEnvelope.hash}); null for its first. */
  readonly prev: string | null;
  /** One command's events, appended atomically as one message. */
  readonly events: readonly LedgerEvent[];
}

export interface AppendResult {
  /** Stream sequence of the message (of the original one when `duplicate`). */
  readonly seq: number;
  /** True when JetStream recognized the msgId and appended nothing. */
  readonly duplicate: boolean;
  /** SHA-256 (hex) of the appended body ({@link RecordedEnvelope.hash}); null for a duplicate. */
  readonly hash: string | null;
}

/** One message of the log, decoded. */
export interface RecordedEnvelope extends EnvelopeMeta {
  readonly seq: number;
  readonly aggregate: AggregateRef;
  readonly prev: string | null;
  /** SHA-256 (hex) of the message body bytes as stored: the next message's `prev`. */
  readonly hash: string;
  /** Time JetStream stored the message, epoch milliseconds. */
  readonly storedAt: number;
  /** The msgId it was appended with: how a retried request recognizes its own earlier append. */
  readonly msgId?: string | undefined;
  readonly events: readonly LedgerEvent[];
}

/**
 * The append-only log port. The JetStream adapter is the real one; an in-memory adapter runs the
 * same contract suite for fast unit tests.
 *
 * Errors: `append` throws DomainError `conflict` when `expectedVersion` is not the aggregate's last
 * subject sequence, and DomainError `unavailable` when the log cannot be reached (nothing appended
 * as far as the caller can tell; a retry with the same msgId is safe).
 */
export interface EventLog {
  append(request: AppendRequest): Promise<AppendResult>;
  /** The aggregate's messages with seq > `afterSeq`, in order. */
  readAggregate(aggregate: AggregateRef, afterSeq?: number): Promise<RecordedEnvelope[]>;
  /** One message by stream sequence; undefined when there is none (deleted or beyond the head). */
  get(seq: number): Promise<RecordedEnvelope | undefined>;
  /** The stream's last sequence (0 when empty). */
  headSequence(): Promise<number>;
  /**
   * Every message with seq >= `fromSeq`, in stream order, then new ones as they are appended, until
   * `signal` aborts. Survives reconnects without skipping or repeating a sequence.
   */
  follow(fromSeq: number, signal: AbortSignal): AsyncIterable<RecordedEnvelope>;
}
