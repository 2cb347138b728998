import { DeliverPolicy, type Consumer, type ConsumerMessages, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection, Status } from "@nats-io/transport-node";
import { unavailable } from "../domain/shared/errors.js";
import type { RecordedEnvelope } from "./types.js";

/** Why {@link followLog} dropped its consumer and made a new one. */
export type FollowResetReason = "heartbeats_missed" | "stalled" | "consumer_gone" | "consumer_ended" | "consumer_failed" | "create_failed";

/** Tells the owner that the follow restarted, for logs and metrics. */
export type FollowResetListener = (event: { reason: FollowResetReason; next: number; attempt: number; detail?: string }) => void;

/** Options of {@link followLog}. */
export interface FollowOptions {
  /**
   * Idle heartbeat the server sends while there is nothing to deliver, in ms (default 1000). Two
   * missed in a row and the consumer is presumed lost (its node died, a leader moved) and replaced.
   */
  idleHeartbeatMs?: number;
  /** Ceiling of the pause between attempts to create a consumer, in ms (default 2000). */
  maxBackoffMs?: number;
  onReset?: FollowResetListener;
}

/** What {@link followLog} needs from the adapter. */
export interface FollowSource {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly stream: string;
  decode(m: JsMsg): RecordedEnvelope;
  /** One message by sequence; undefined for a hole. */
  get(seq: number): Promise<RecordedEnvelope | undefined>;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });

/** Whether the connection is up, since when, and a pause that a reconnect cuts short. */
function watchConnection(nc: NatsConnection): { readonly connected: boolean; readonly since: number; pause(ms: number, signal: AbortSignal): Promise<void>; stop(): void } {
  const state = { connected: !nc.isClosed(), since: Date.now() };
  let waker = new AbortController();
  const statuses = nc.status() as AsyncIterable<Status> & { stop?: () => void };
  void (async () => {
    for await (const s of statuses) {
      if (s.type === "disconnect") state.connected = false;
      else if (s.type === "reconnect") {
        Object.assign(state, { connected: true, since: Date.now() });
        waker.abort();
      }
    }
  })();
  return {
    get connected() {
      return state.connected;
    },
    get since() {
      return state.since;
    },
    async pause(ms, signal) {
      waker = new AbortController();
      await sleep(ms, AbortSignal.any([signal, waker.signal]));
    },
    stop: () => statuses.stop?.(),
  };
}

const describe = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/**
 * Every message from `fromSeq` on, in order, each once, until `signal` aborts or the connection
 * closes for good.
 *
 * The client's ordered consumer recovers from gaps and reconnects by itself, but not from losing
 * the node that hosts it: after a kill -9 of a cluster node it can wait for that consumer forever
 * (seen on a 3-node cluster, issue 7). So the consumer here is disposable: two missed heartbeats,
 * a deleted consumer or an ended iterator, and a new one starts at the next sequence we have not
 * yielded, retried with capped backoff while the cluster elects (creation fails then).
 *
 * The library's own heartbeat monitor is not enough: on a reconnect it cancels the monitor and
 * restarts it only once a consumer-info request succeeds, which it retries forever when the
 * consumer lived on the node that died with our connection (seen in CI: a read model stalled for
 * good). So a watchdog here counts every message and heartbeat while we wait for the next message,
 * and replaces the consumer after three heartbeat intervals without either ("stalled").
 */
export async function* followLog(source: FollowSource, fromSeq: number, signal: AbortSignal, options: FollowOptions = {}): AsyncGenerator<RecordedEnvelope> {
  const { nc, js, stream } = source;
  const idleHeartbeat = Math.max(500, options.idleHeartbeatMs ?? 1_000);
  const maxBackoff = options.maxBackoffMs ?? 2_000;
  let next = Math.max(1, Math.floor(fromSeq));
  let attempt = 0;
  // While disconnected the watchdog holds off (nothing can arrive, nothing can be created); a
  // reconnect restarts its count and cuts short a backoff, so recovery starts at once.
  const connection = watchConnection(nc);
  const reset = async (reason: FollowResetReason, detail?: string): Promise<void> => {
    attempt++;
    options.onReset?.({ reason, next, attempt, ...(detail === undefined ? {} : { detail }) });
    await connection.pause(Math.min(maxBackoff, 50 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() / 2), signal);
  };

  try {
    yield* follow();
  } finally {
    connection.stop();
  }

  async function* follow(): AsyncGenerator<RecordedEnvelope> {
    while (!signal.aborted) {
      if (nc.isClosed()) throw unavailable("follow stopped: the NATS connection closed");
      let consumer: Consumer;
      let messages: ConsumerMessages;
      try {
        consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: next });
        messages = await consumer.consume({ max_messages: 256, expires: 10_000, idle_heartbeat: idleHeartbeat });
      } catch (error) {
        if (signal.aborted || nc.isClosed()) continue;
        await reset("create_failed", describe(error));
        continue;
      }

      let lost: FollowResetReason | undefined;
      let waitingSince: number | undefined;
      let lastLife = Date.now();
      const watchdog = setInterval(() => {
        if (waitingSince === undefined || lost !== undefined || !connection.connected) return;
        if (Date.now() - Math.max(lastLife, waitingSince, connection.since) < 3 * idleHeartbeat) return;
        lost = "stalled";
        messages.stop();
      }, idleHeartbeat);
      watchdog.unref();
      const stop = (): void => void messages.close();
      signal.addEventListener("abort", stop, { once: true });
      // Aborted while the consumer was being set up: without this the loop below would wait for the
      // next message (on a quiet stream, the next checkpoint a minute later) before it saw the abort.
      if (signal.aborted) stop();
      void (async () => {
        for await (const s of messages.status()) {
          if (s.type === "heartbeat") {
            lastLife = Date.now();
            continue;
          }
          if (lost !== undefined) continue;
          if (s.type === "heartbeats_missed") lost = "heartbeats_missed";
          else if (s.type === "consumer_deleted" || s.type === "consumer_not_found") lost = "consumer_gone";
          else continue;
          messages.stop();
          return;
        }
      })();
      // Only the consumer's own failures are retried here; a message that does not decode stops the
      // follow (a projection must never skip an event).
      let failure: unknown;
      const iterator = messages[Symbol.asyncIterator]();
      try {
        for (;;) {
          let step: IteratorResult<JsMsg>;
          waitingSince = Date.now();
          try {
            step = await iterator.next();
          } catch (error) {
            failure = error;
            break;
          } finally {
            waitingSince = undefined;
          }
          if (step.done === true || signal.aborted) break;
          const m = step.value;
          // Belt and braces over the ordered consumer's own bookkeeping: never repeat, never skip.
          if (m.seq < next) continue;
          while (m.seq > next) {
            const missing = await source.get(next);
            if (missing !== undefined) yield missing;
            next++;
            if (signal.aborted) return;
          }
          yield source.decode(m);
          next = m.seq + 1;
          attempt = 0;
          if (signal.aborted) return;
        }
      } finally {
        clearInterval(watchdog);
        signal.removeEventListener("abort", stop);
        messages.stop();
        // The consumer may live on a dead node: do not wait for its deletion (it expires by itself).
        consumer.delete().catch(() => undefined);
      }
      if (signal.aborted) return;
      if (nc.isClosed()) throw unavailable("follow stopped: the NATS connection closed", failure === undefined ? {} : { cause: failure });
      await reset(lost ?? (failure === undefined ? "consumer_ended" : "consumer_failed"), failure === undefined ? undefined : describe(failure));
    }
  }
}
