/**
 * The load generator: a separate process (forked by {@link startLoadGenerator}) so its CPU never
 * counts against the server under test. A closed loop of `concurrency` workers, each sending one
 * request at a time: warm-up, then a measured window (reported to the parent at its start and end,
 * where the parent reads the server's CPU time), then a drain of the requests still in flight.
 *
 * Requests that complete inside the window count, with their latency. An operation is one answer:
 * a batch request of N tokens is N operations (and one latency sample).
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { credentials, Metadata } from "@grpc/grpc-js";
import { jetstream } from "@nats-io/jetstream";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { IntrospectionServiceClient } from "../../../services/gen/grantledger/v1/introspection_service.js";
import { TokenServiceClient } from "../../../services/gen/grantledger/v1/token_service.js";
import { encodeRequests, RawHttpConnection } from "./raw-http.js";
import { latency, type Latency } from "./stats.js";

export type LoadSpec =
  | { readonly kind: "grpc-introspect"; readonly address: string; readonly channels: number; readonly tokensFile: string }
  | {
      readonly kind: "grpc-introspect-batch";
      readonly address: string;
      readonly channels: number;
      readonly tokensFile: string;
      /** Tokens per IntrospectBatch call, each picked at random. */
      readonly batchSize: number;
    }
  | {
      readonly kind: "http-introspect";
      readonly url: string;
      readonly clientId: string;
      readonly clientSecret: string;
      readonly tokensFile: string;
      readonly maxSockets: number;
      /**
       * `raw` (default): net sockets, requests encoded once (scripts/bench/lib/raw-http.ts), ~10× less
       * CPU per request than `node:http`'s client, which is kept to compare with earlier results.
       */
      readonly client?: "raw" | "node:http";
    }
  | { readonly kind: "grpc-issue"; readonly address: string; readonly channels: number; readonly grantsFile: string }
  | {
      readonly kind: "js-publish";
      readonly natsUrl: string;
      readonly subjectRoot: string;
      readonly bodyBytes: number;
      readonly headers: Readonly<Record<string, string>>;
    };

export interface RunSpec {
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /**
   * Paced load: at most this many requests start per second, spread evenly (an open loop capped by
   * `concurrency`); unset for a closed loop as fast as the target answers.
   */
  readonly ratePerSecond?: number;
}

export interface LoadResult {
  /** Operations (answers) completed inside the measured window: requests × tokens per request. */
  readonly ops: number;
  /** Requests completed inside the measured window (= ops unless requests are batches). */
  readonly requests: number;
  readonly errors: number;
  /** Answers that were wrong (e.g. a token reported inactive): counted apart from errors. */
  readonly wrong: number;
  readonly firstError: string | null;
  readonly windowMs: number;
  readonly throughput: number;
  readonly latencyMs: Latency;
}

export type ParentMessage = { type: "init"; spec: LoadSpec } | { type: "run"; run: RunSpec } | { type: "exit" };
export type ChildMessage =
  | { type: "ready" }
  | { type: "window-start" }
  | { type: "window-end" }
  | { type: "result"; result: LoadResult }
  | { type: "failed"; error: string };

/**
 * One request; resolves true when the answer is the expected one, or for a batch how many answers
 * it carried and how many of them were wrong.
 */
type Op = (worker: number) => Promise<boolean | { readonly answers: number; readonly wrong: number }>;

const lines = (file: string): string[] => readFileSync(file, "utf8").split("\n").filter((l) => l !== "");

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;

/** One client per channel, each on its own TCP connection: grpc-js shares subchannels between clients unless told not to. */
const introspectionClients = (address: string, channels: number): IntrospectionServiceClient[] =>
  Array.from({ length: channels }, () => new IntrospectionServiceClient(address, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }));

function grpcIntrospect(spec: Extract<LoadSpec, { kind: "grpc-introspect" }>): Op {
  const tokens = lines(spec.tokensFile);
  const clients = introspectionClients(spec.address, spec.channels);
  return (worker) =>
    new Promise((resolveOp, reject) => {
      const client = clients[worker % clients.length] as IntrospectionServiceClient;
      client.introspect({ token: pick(tokens) }, new Metadata(), { deadline: Date.now() + 10_000 }, (error, response) =>
        error ? reject(error) : resolveOp(response.active),
      );
    });
}

function grpcIntrospectBatch(spec: Extract<LoadSpec, { kind: "grpc-introspect-batch" }>): Op {
  const tokens = lines(spec.tokensFile);
  const clients = introspectionClients(spec.address, spec.channels);
  return (worker) =>
    new Promise((resolveOp, reject) => {
      const client = clients[worker % clients.length] as IntrospectionServiceClient;
      const batch = Array.from({ length: spec.batchSize }, () => pick(tokens));
      client.introspectBatch({ tokens: batch }, new Metadata(), { deadline: Date.now() + 10_000 }, (error, response) => {
        if (error) return reject(error);
        // Every seeded token is active: a missing or inactive answer is a wrong one.
        const active = response.results.filter((r) => r.active).length;
        resolveOp({ answers: batch.length, wrong: batch.length - active });
      });
    });
}

const basic = (clientId: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64")}`;

/** One socket per worker (`maxSockets` of them at most), each token's request encoded once. */
function rawHttpIntrospect(spec: Extract<LoadSpec, { kind: "http-introspect" }>): Op {
  const url = new URL(spec.url);
  const target = {
    host: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    headers: [
      `Authorization: ${basic(spec.clientId, spec.clientSecret)}`,
      "Content-Type: application/x-www-form-urlencoded",
      "Accept: application/json",
    ],
  };
  const requests = encodeRequests(target, lines(spec.tokensFile).map((t) => `token=${encodeURIComponent(t)}`));
  const connections = Array.from({ length: spec.maxSockets }, () => new RawHttpConnection(target.host, target.port));
  return async (worker) =>
    (await (connections[worker % connections.length] as RawHttpConnection).send(pick(requests))) === "active";
}

function httpIntrospect(spec: Extract<LoadSpec, { kind: "http-introspect" }>): Op {
  if (spec.client !== "node:http") return rawHttpIntrospect(spec);
  const tokens = lines(spec.tokensFile);
  const agent = new Agent({ keepAlive: true, maxSockets: spec.maxSockets });
  const url = new URL(spec.url);
  const authorization = basic(spec.clientId, spec.clientSecret);
  return () =>
    new Promise((resolveOp, reject) => {
      const body = `token=${encodeURIComponent(pick(tokens))}`;
      const req = httpRequest(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          headers: {
            authorization,
            "content-type": "application/x-www-form-urlencoded",
            "content-length": Buffer.byteLength(body),
            accept: "application/json",
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            if (res.statusCode !== 200) {
              reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString("utf8").slice(0, 200)}`));
              return;
            }
            try {
              resolveOp((JSON.parse(Buffer.concat(chunks).toString("utf8")) as { active?: unknown }).active === true);
            } catch (error) {
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
}

function grpcIssue(spec: Extract<LoadSpec, { kind: "grpc-issue" }>): Op {
  const grants = lines(spec.grantsFile);
  const clients = Array.from(
    { length: spec.channels },
    () => new TokenServiceClient(spec.address, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }),
  );
  const run = randomUUID().slice(0, 8);
  const metadata = new Metadata();
  metadata.set("x-actor", "bench");
  // Unique across runs of this process: a repeated request_id would be an idempotent replay.
  let sent = 0;
  return (worker) =>
    new Promise((resolveOp, reject) => {
      const client = clients[worker % clients.length] as TokenServiceClient;
      // One grant per worker: the load is spread over aggregates, as in production; no OCC retries.
      const grantId = grants[worker % grants.length] as string;
      client.issueTokens(
        { requestId: `${run}-${sent++}`, grantId, scopes: [], includeRefreshToken: true },
        metadata,
        { deadline: Date.now() + 30_000 },
        (error, response) => (error ? reject(error) : resolveOp(response.accessToken !== "")),
      );
    });
}

async function jsPublish(spec: Extract<LoadSpec, { kind: "js-publish" }>): Promise<Op> {
  const nc = await connect({ servers: spec.natsUrl, name: "bench-raw-publish" });
  const js = jetstream(nc, { timeout: 30_000 });
  const body = new Uint8Array(spec.bodyBytes).fill(0x61);
  const run = randomUUID().slice(0, 8);
  const last = new Map<number, number>();
  // Unique across runs of this process: a repeated msgID would be deduplicated, not stored.
  let sent = 0;
  return async (worker) => {
    // One subject per worker, like one aggregate per worker on the ledger side.
    const h = natsHeaders();
    for (const [key, value] of Object.entries(spec.headers)) h.set(key, key === "Gl-Event-Id" ? randomUUID() : value);
    const ack = await js.publish(`${spec.subjectRoot}.${run}.${worker}`, body, {
      msgID: `${run}-${sent++}`,
      expect: { lastSubjectSequence: last.get(worker) ?? 0 },
      headers: h,
    });
    last.set(worker, ack.seq);
    return !ack.duplicate;
  };
}

async function makeOp(spec: LoadSpec): Promise<Op> {
  switch (spec.kind) {
    case "grpc-introspect":
      return grpcIntrospect(spec);
    case "grpc-introspect-batch":
      return grpcIntrospectBatch(spec);
    case "http-introspect":
      return httpIntrospect(spec);
    case "grpc-issue":
      return grpcIssue(spec);
    case "js-publish":
      return jsPublish(spec);
  }
}

async function runLoad(op: Op, run: RunSpec, send: (m: ChildMessage) => void): Promise<LoadResult> {
  let phase: "warmup" | "window" | "drain" = "warmup";
  const samples: number[] = [];
  let ops = 0;
  let errors = 0;
  let wrong = 0;
  let firstError: string | null = null;
  let answered = false;
  const interval = run.ratePerSecond === undefined || run.ratePerSecond <= 0 ? 0 : 1000 / run.ratePerSecond;
  let nextSlot = performance.now();
  const worker = async (w: number): Promise<void> => {
    while (phase !== "drain") {
      if (interval > 0) {
        const slot = Math.max(nextSlot, performance.now() - interval);
        nextSlot = slot + interval;
        const wait = slot - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      }
      const started = performance.now();
      let outcome: Awaited<ReturnType<Op>> = false;
      let failed = false;
      try {
        outcome = await op(w);
      } catch (error) {
        failed = true;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
      const ended = performance.now();
      answered = true;
      // Every completion inside the window counts (closed-loop throughput), whenever it started: with
      // latencies longer than the window, counting only requests started inside it would count none.
      if (phase === "window") {
        if (failed) errors++;
        else if (outcome === false) wrong++;
        else {
          const answers = outcome === true ? 1 : outcome.answers;
          const bad = outcome === true ? 0 : outcome.wrong;
          ops += answers - bad;
          wrong += bad;
          samples.push(ended - started);
        }
      }
      // A failing target must not turn the loop into a busy spin.
      if (failed) await new Promise((r) => setTimeout(r, 5));
    }
  };
  const workers = Array.from({ length: run.concurrency }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, run.warmupMs));
  // The window opens once the target has answered at least once: on a loaded machine the first
  // answers of a cold target can take longer than a short warm-up, and a window before them
  // measures the start-up, not the service.
  for (const deadline = performance.now() + 30_000; !answered && performance.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
  send({ type: "window-start" });
  const windowStart = performance.now();
  phase = "window";
  await new Promise((r) => setTimeout(r, run.durationMs));
  phase = "drain";
  const windowEnd = performance.now();
  send({ type: "window-end" });
  await Promise.all(workers);
  const windowMs = windowEnd - windowStart;
  return {
    ops,
    requests: samples.length,
    errors,
    wrong,
    firstError,
    windowMs,
    throughput: (ops * 1000) / windowMs,
    latencyMs: latency(samples),
  };
}

if (process.send !== undefined) {
  const send = (m: ChildMessage): void => void process.send?.(m);
  let op: Op | undefined;
  process.on("message", (message: ParentMessage) => {
    const handle = async (): Promise<void> => {
      if (message.type === "init") {
        op = await makeOp(message.spec);
        send({ type: "ready" });
      } else if (message.type === "run") {
        if (op === undefined) throw new Error("run before init");
        send({ type: "result", result: await runLoad(op, message.run, send) });
      } else {
        process.exit(0);
      }
    };
    handle().catch((error: unknown) => send({ type: "failed", error: error instanceof Error ? (error.stack ?? error.message) : String(error) }));
  });
}
