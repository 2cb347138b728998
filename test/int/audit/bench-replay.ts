/**
 * Replay throughput vs a raw read of the same stream: `npx tsx test/int/audit/bench-replay.ts [N]`
 * (default 100 000 messages). Not a test (no assertions). Fills a fresh stream with realistic
 * messages (grant creations and token issues over many grants), then times, best of 3:
 * - raw: an ordered consumer reading every message to the head, bodies untouched;
 * - replay: services/audit replayEvents (decode + validate every event, no filter);
 * - replay → jsonl: the same, formatted as `audit replay --format jsonl` lines;
 * - replay → gRPC: ReplayEvents over a real gRPC connection (the AuditService handler);
 * - filtered: replay for one user (server-side subject narrowing + grant resolution).
 */
import { randomUUID } from "node:crypto";
import { DeliverPolicy } from "@nats-io/jetstream";
import { credentials, Server, ServerCredentials } from "@grpc/grpc-js";
import { pino } from "pino";
import { replayEvents } from "../../../services/audit/replay.js";
import { recordToJson } from "../../../services/audit/records.js";
import { encodeEnvelope } from "../../../services/eventlog/codec.js";
import { connectEventLog, type JetStreamEventLog } from "../../../services/eventlog/jetstream.js";
import { subjectFor } from "../../../services/eventlog/subjects.js";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { AuditServiceClient, AuditServiceService } from "../../../services/gen/grantledger/v1/audit_service.js";
import { auditService } from "../../../services/grpc/audit-service.js";
import type { AuditReadModel } from "../../../projections/audit/queries.js";
import type { AppendRequest } from "../../../services/eventlog/types.js";
import { startNatsServer } from "../../support/nats-server.js";

const N = Number(process.argv[2] ?? 100_000);
const server = await startNatsServer();
const log = await connectEventLog({ servers: server.url, name: "bench" });

async function fill(log: JetStreamEventLog, n: number): Promise<void> {
  const grants = Math.max(1, Math.floor(n / 20));
  const version = new Map<string, number>();
  let pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const g = i % grants;
    const grantId = `gr_${g}`;
    const first = !version.has(grantId);
    version.set(grantId, i);
    const request: AppendRequest = {
      aggregate: { kind: "grant", id: grantId },
      expectedVersion: 0,
      msgId: randomUUID(),
      prev: null,
      meta: { eventId: randomUUID(), at: 1_700_000_000_000 + i, actor: `actor-${i % 7}`, requestId: randomUUID() },
      events: first
        ? [{ type: "grant.created", data: { grantId, subject: `user-${g % 500}`, clientId: `cl_${g % 50}`, scopes: ["zone:read", "dns:read"], resources: [`acct-${g % 300}`], expiresAt: null, createdAt: 1_700_000_000_000 } }]
        : [
            {
              type: "token.issued",
              data: {
                grantId,
                tokens: [
                  { tokenId: `at_${i}`, kind: "access_token", hash: `k1:${"A".repeat(43)}`, familyId: `fa_${i}`, scopes: ["zone:read"], issuedAt: 1_700_000_000_000 + i, expiresAt: 1_700_003_600_000 + i },
                  { tokenId: `rt_${i}`, kind: "refresh_token", hash: `k1:${"B".repeat(43)}`, familyId: `fa_${i}`, scopes: ["zone:read"], issuedAt: 1_700_000_000_000 + i, expiresAt: 1_702_592_000_000 + i },
                ],
              },
            },
          ],
    };
    const encoded = encodeEnvelope(request);
    const h = natsHeaders();
    for (const [k, v] of Object.entries(encoded.headers)) h.set(k, v);
    pending.push(log.js.publish(subjectFor(request.aggregate), encoded.body, { headers: h }));
    if (pending.length >= 2000) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
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
grpcServer.addService(
  AuditServiceService,
  auditService({ logger: pino({ level: "silent" }), log, readModel: {} as AuditReadModel, freshness: { appliedSeq: () => 0, waitFor: async () => false }, minSequenceWaitMs: 0 }),
);
const port = await new Promise<number>((resolve, reject) =>
  grpcServer.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
);
const client = new AuditServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
async function viaGrpc(): Promise<number> {
  let n = 0;
  for await (const _ of client.replayEvents({ filter: undefined, follow: false })) n++;
  return n;
}

async function time(label: string, fn: () => Promise<number>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  let count = 0;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    count = await fn();
    best = Math.min(best, performance.now() - t);
  }
  console.log(`${label.padEnd(28)} ${String(count).padStart(8)} items  ${best.toFixed(0).padStart(6)} ms  ${Math.round((count / best) * 1000)} /s`);
  return best;
}

const rawMs = await time("raw ordered consumer", raw);
const replayMs = await time("replayEvents", () => replay(false));
const jsonlMs = await time("replayEvents → jsonl", () => replay(true));
const grpcMs = await time("ReplayEvents over gRPC", viaGrpc);
await time("replay one user (filtered)", () => replay(false, { subject: "user-42" }));
console.log(`ratio replay/raw ${(replayMs / rawMs).toFixed(2)}  jsonl/raw ${(jsonlMs / rawMs).toFixed(2)}  grpc/raw ${(grpcMs / rawMs).toFixed(2)}`);

client.close();
grpcServer.forceShutdown();
await log.close();
await server.stop();
