import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import { unavailable } from "../domain/shared/errors.js";
import type { StoredMessage } from "../eventlog/codec.js";

/** Options of {@link readRaw}. */
export interface ReadRawOptions {
  /** Stop after this sequence (inclusive); without it, keep following new messages. */
  readonly untilSeq?: number;
  readonly signal?: AbortSignal;
  /** A bounded read fails when no message arrives for this long (default 10 s). */
  readonly timeoutMs?: number;
}

/**
 * The stream's messages as stored (sequence, subject, body bytes), in stream order from `fromSeq`,
 * through an ordered consumer. Unlike the EventLog port this hands out the exact body bytes, which
 * the Merkle leaves hash; nothing is decoded or skipped. A deleted message shows up as a jump in
 * sequence: callers check density themselves.
 */
export async function* readRaw(
  js: JetStreamClient,
  stream: string,
  fromSeq: number,
  options: ReadRawOptions = {},
): AsyncGenerator<StoredMessage> {
  const { untilSeq, signal } = options;
  const timeout = options.timeoutMs ?? 10_000;
  // A function, so TypeScript does not narrow `aborted` to false for the rest of the body.
  const aborted = (): boolean => signal?.aborted === true;
  if (aborted() || (untilSeq !== undefined && untilSeq < fromSeq)) return;
  let consumer;
  try {
    consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, fromSeq) });
  } catch (error) {
    throw unavailable(`cannot read stream ${stream}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const messages = await consumer.consume({ max_messages: 1024, expires: 10_000 });
  const stop = (): void => void messages.close();
  signal?.addEventListener("abort", stop, { once: true });
  let lastProgress = Date.now();
  const watchdog =
    untilSeq === undefined
      ? undefined
      : setInterval(() => {
          if (Date.now() - lastProgress > timeout) messages.stop(new Error(`no message for ${timeout} ms`));
        }, Math.min(timeout, 1_000));
  try {
    for await (const m of messages) {
      lastProgress = Date.now();
      if (untilSeq !== undefined && m.seq > untilSeq) return;
      yield { seq: m.seq, subject: m.subject, body: m.data, storedAt: Number(m.timestampNanos / 1_000_000n) };
      // A function, so TypeScript does not narrow `aborted` to false for the rest of the body.
  const aborted = (): boolean => signal?.aborted === true;
  if (aborted() || (untilSeq !== undefined && m.seq >= untilSeq)) return;
    }
    if (signal?.aborted !== true) throw unavailable(`reading stream ${stream} stopped early`);
  } catch (error) {
    if (aborted()) return;
    throw unavailable(`reading stream ${stream} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    if (watchdog !== undefined) clearInterval(watchdog);
    signal?.removeEventListener("abort", stop);
    messages.stop();
    consumer.delete().catch(() => undefined);
  }
}

/** The stream's last sequence and its subject root (from its `<root>.>` subject). */
export async function streamHead(
  jsm: { streams: { info(name: string): Promise<{ state: { last_seq: number }; config: { subjects?: string[] } }> } },
  stream: string,
): Promise<{ lastSeq: number; subjectRoot: string | undefined }> {
  const info = await jsm.streams.info(stream);
  const subject = info.config.subjects?.[0];
  return { lastSeq: info.state.last_seq, subjectRoot: subject?.endsWith(".>") === true ? subject.slice(0, -2) : undefined };
}
