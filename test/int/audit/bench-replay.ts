/**
 * Replay throughput vs a raw read of the same stream: `npx tsx test/int/audit/bench-replay.ts [N]`
 * (default 100 000 messages). Not a test (no assertions). Fills a fresh stream with realistic
 * messages (grant creations and token issues over many grants), then times 3 runs of each (best and
 * median wall time, median CPU time of this process per item; ratios of the medians):
 * - raw: an ordered consumer reading every message to the head, bodies untouched;
 * - replay: services/audit replayEvents (decode + validate every event, no filter);
 * - replay → jsonl: the same, formatted as `audit replay --format jsonl` lines;
 * - replay → gRPC: ReplayEvents over a real gRPC connection (the AuditService handler);
 * - filtered: replay for one user, one event type, one actor (the prefilter skips messages that
 *   cannot match without decoding them; grant resolution for the user).
 */
import { DeliverPolicy } from "@nats-io/jetstream";
import { credentials, Server, ServerCredentials } from "@grpc/grpc-js";
import { pino } from "pino";
import { replayEvents } from "../../../services/audit/replay.js";
import { recordToJson } from "../../../services/audit/records.js";
import { connectEventLog, type JetStreamEventLog } from "../../../services/eventlog/jetstream.js";
import { AuditServiceClient, AuditServiceService, type ReplayEventsResponse } from "../../../services/gen/grantledger/v1/audit_service.js";
import { auditService } from "../../../services/grpc/audit-service.js";
import { CallerGate } from "../../../services/grpc/auth.js";
import { guardRpcs } from "../../../services/grpc/handler.js";
import type { AuditReadModel } from "../../../projections/audit/queries.js";
import { startNatsServer } from "../../support/nats-server.js";
import { BenchHistory } from "./bench-history.js";

const N = Number(process.argv[2] ?? 100_000);
const server = await startNatsServer();
const log = await connectEventLog({ servers: server.url, name: "bench" });

async function fill(log: JetStreamEventLog, n: number): Promise<void> {
  const history = new BenchHistory(log, n, false);
  for (let i = 0; i < n; i++) await history.append(i);
  await history.flush();
}

const t0 = performance.now();
await fill(log, N);
const head = await log.headSequence();
console.log(`filled ${head} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

async function raw(): Promise<number> {
  const consumer = await log.js.consumers.get(log.stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1 });
  const messages = await consumer.consume({ max_messages: 1024 });
  let n = 0;
  let bytes = 0;
  for await (const m of messages) {
    n++;
    bytes += m.data.length;
    if (m.seq >= head) break;
  }
  messages.stop();
  await consumer.delete().catch(() => undefined);
  if (bytes === 0) throw new Error("nothing read");
  return n;
}

async function replay(format: boolean, filter = {}): Promise<number> {
  let n = 0;
  let bytes = 0;
  for await (const record of replayEvents(log, { filter, signal: new AbortController().signal })) {
    n++;
    if (format) bytes += JSON.stringify(recordToJson(record)).length;
  }
  return n + bytes * 0;
}

// The AuditService over a real gRPC connection (loopback), client reading the whole stream.
const grpcServer = new Server();
const grpcLogger = pino({ level: "silent" });
// Caller security as under --insecure-dev (the gate refuses every call without one).
guardRpcs(grpcLogger, new CallerGate({ insecureDev: true, rates: { introspect: { perSecond: 0, burst: 0 }, secretChecks: { perSecond: 0, burst: 0 } }, logger: grpcLogger }));
grpcServer.addService(
  AuditServiceService,
  auditService({ logger: grpcLogger, log, readModel: {} as AuditReadModel, freshness: { appliedSeq: () => 0, waitFor: async () => false }, minSequenceWaitMs: 0 }),
);
const port = await new Promise<number>((resolve, reject) =>
  grpcServer.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
);
const client = new AuditServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
async function viaGrpc(batchSize = 0): Promise<number> {
  let n = 0;
  for await (const response of client.replayEvents({ filter: undefined, follow: false, batchSize }) as AsyncIterable<ReplayEventsResponse>) {
    n += response.event === undefined ? response.events.length : 1;
  }
  return n;
}

/** Best and median wall time of 3 runs, and the median CPU time of this process per item (steadier on a shared machine). */
async function time(label: string, fn: () => Promise<number>): Promise<{ wallMs: number; cpuUsPerItem: number }> {
  const walls: number[] = [];
  const cpus: number[] = [];
  let count = 0;
  for (let i = 0; i < 3; i++) {
    const cpu = process.cpuUsage();
    const t = performance.now();
    count = await fn();
    walls.push(performance.now() - t);
    const used = process.cpuUsage(cpu);
    cpus.push((used.user + used.system) / Math.max(1, count));
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1] as number;
  const best = Math.min(...walls);
  console.log(
    `${label.padEnd(28)} ${String(count).padStart(8)} items  best ${best.toFixed(0).padStart(6)} ms  median ${median(walls).toFixed(0).padStart(6)} ms  ` +
      `${Math.round((count / best) * 1000)} /s  CPU ${median(cpus).toFixed(1)} µs/item`,
  );
  return { wallMs: median(walls), cpuUsPerItem: median(cpus) };
}

const rawT = await time("raw ordered consumer", raw);
const replayT = await time("replayEvents", () => replay(false));
const jsonlT = await time("replayEvents → jsonl", () => replay(true));
const grpcT = await time("ReplayEvents over gRPC", () => viaGrpc(0));
const batchedT = await time("ReplayEvents, batch_size 256", () => viaGrpc(256));
const userT = await time("replay one user (filtered)", () => replay(false, { subject: "user-42" }));
const typeT = await time("replay one type (filtered)", () => replay(false, { types: ["grant.created"] }));
const actorT = await time("replay one actor (filtered)", () => replay(false, { actor: "actor-3" }));
console.log(
  `filtered ÷ raw, median wall: user ${(userT.wallMs / rawT.wallMs).toFixed(2)}  type ${(typeT.wallMs / rawT.wallMs).toFixed(2)}  actor ${(actorT.wallMs / rawT.wallMs).toFixed(2)}`,
);
const ratios = (pick: (t: { wallMs: number; cpuUsPerItem: number }) => number): string =>
  `replay/raw ${(pick(replayT) / pick(rawT)).toFixed(2)}  jsonl/raw ${(pick(jsonlT) / pick(rawT)).toFixed(2)}  grpc/raw ${(pick(grpcT) / pick(rawT)).toFixed(2)}  ` +
  `grpc batched/raw ${(pick(batchedT) / pick(rawT)).toFixed(2)}`;
console.log(`median wall ratio  ${ratios((t) => t.wallMs)}`);
// gRPC: client and server share this process, so its CPU is both ends.
console.log(`CPU/item ratio     ${ratios((t) => t.cpuUsPerItem)}`);

client.close();
grpcServer.forceShutdown();
await log.close();
await server.stop();
