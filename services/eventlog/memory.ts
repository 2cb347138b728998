import { concurrencyConflict, unavailable } from "../domain/shared/errors.js";
import { decodeEnvelope, encodeEnvelope, type StoredMessage } from "./codec.js";
import { DEFAULT_SUBJECT_ROOT, subjectFor } from "./subjects.js";
import type { AggregateRef, AppendRequest, AppendResult, EventLog, RecordedEnvelope } from "./types.js";

/** Options of the in-memory event log; every one has a default matching the JetStream adapter. */
export interface MemoryEventLogOptions {
  /** Subject root, as for JetStream (default "ledger"). */
  subjectRoot?: string;
  /** How long a msgId is remembered for dedupe, like the stream's duplicate_window (default 2 minutes). */
  duplicateWindowMs?: number;
  /** Clock for `storedAt` and the dedupe window (default `Date.now`). */
  now?: () => number;
}

/** The in-memory event log: the {@link EventLog} port plus `close()`. */
export interface MemoryEventLog extends EventLog {
  /** Later appends and reads throw `unavailable`; running `follow` iterations throw it too. */
  close(): void;
}

/**
 * An in-memory {@link EventLog} with JetStream's semantics, for unit tests: one global sequence from
 * 1, optimistic concurrency on the aggregate's last sequence (0 = new), msgId dedupe returning the
 * original seq with `duplicate: true` (checked before the concurrency check, as JetStream does), the
 * same codec (so `hash` is the SHA-256 of identical body bytes) and a `follow` that yields the stored
 * messages and then new ones until its signal aborts (the iteration then ends without error).
 */
export function createMemoryEventLog(options: MemoryEventLogOptions = {}): MemoryEventLog {
  const root = options.subjectRoot ?? DEFAULT_SUBJECT_ROOT;
  const windowMs = options.duplicateWindowMs ?? 120_000;
  const now = options.now ?? Date.now;

  /** messages[seq - 1] */
  const messages: StoredMessage[] = [];
  const lastBySubject = new Map<string, number>();
  const seqsBySubject = new Map<string, number[]>();
  const msgIds = new Map<string, { seq: number; at: number }>();
  /** Woken on every append and on close. */
  let waiters = new Set<() => void>();
  let closed = false;

  const wake = (): void => {
    const current = waiters;
    waiters = new Set();
    for (const resolve of current) resolve();
  };
  const ensureOpen = (): void => {
    if (closed) throw unavailable("event log is closed");
  };
  const decode = (message: StoredMessage): RecordedEnvelope => decodeEnvelope(message, root);

  return {
    async append(request: AppendRequest): Promise<AppendResult> {
      ensureOpen();
      const encoded = encodeEnvelope(request);
      const subject = subjectFor(request.aggregate, root);
      const at = now();
      const seen = msgIds.get(request.msgId);
      if (seen !== undefined && at - seen.at <= windowMs) return { seq: seen.seq, duplicate: true, hash: null };
      const last = lastBySubject.get(subject) ?? 0;
      if (last !== request.expectedVersion) {
        throw concurrencyConflict(
          `${request.aggregate.kind} ${request.aggregate.id} is at version ${last}, not ${request.expectedVersion}`,
        );
      }
      const seq = messages.length + 1;
      messages.push({ seq, subject, body: encoded.body.slice(), storedAt: at, msgId: request.msgId });
      lastBySubject.set(subject, seq);
      const seqs = seqsBySubject.get(subject);
      if (seqs === undefined) seqsBySubject.set(subject, [seq]);
      else seqs.push(seq);
      msgIds.set(request.msgId, { seq, at });
      wake();
      return { seq, duplicate: false, hash: encoded.hash };
    },

    async readAggregate(aggregate: AggregateRef, afterSeq = 0): Promise<RecordedEnvelope[]> {
      ensureOpen();
      const seqs = seqsBySubject.get(subjectFor(aggregate, root)) ?? [];
      const out: RecordedEnvelope[] = [];
      for (const seq of seqs) if (seq > afterSeq) out.push(decode(messages[seq - 1] as StoredMessage));
      return out;
    },

    async get(seq: number): Promise<RecordedEnvelope | undefined> {
      ensureOpen();
      if (!Number.isInteger(seq) || seq < 1) return undefined;
      const message = messages[seq - 1];
      return message === undefined ? undefined : decode(message);
    },

    async headSequence(): Promise<number> {
      ensureOpen();
      return messages.length;
    },

    async *follow(fromSeq: number, signal: AbortSignal): AsyncIterable<RecordedEnvelope> {
      let next = Math.max(1, Math.floor(fromSeq));
      while (!signal.aborted) {
        ensureOpen();
        const message = messages[next - 1];
        if (message !== undefined) {
          yield decode(message);
          next++;
          continue;
        }
        await new Promise<void>((resolve) => {
          const done = (): void => {
            waiters.delete(done);
            signal.removeEventListener("abort", done);
            resolve();
          };
          waiters.add(done);
          signal.addEventListener("abort", done, { once: true });
        });
      }
    },

    close(): void {
      closed = true;
      wake();
    },
  };
}
