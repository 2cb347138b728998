/**
 * Latency of the JetStream event log on a local nats-server: `npx tsx test/int/eventlog/bench.ts`.
 * Not a test (no assertions); it informed the readAggregate strategy (direct gets for small
 * aggregates, an ordered consumer beyond DEFAULT_DIRECT_READ_LIMIT).
 */
import { connect } from "@nats-io/transport-node";
import { createJetStreamEventLog, connectEventLog } from "../../../services/eventlog/jetstream.js";
import { startNatsServer } from "../../support/nats-server.js";
import { appendRequest, subjectRef } from "./contract.js";

const server = await startNatsServer();
const log = await connectEventLog({ servers: server.url });
const nc = await connect({ servers: server.url });
const views = {
  direct: await createJetStreamEventLog(nc, { directReadLimit: 100_000 }),
  consumer: await createJetStreamEventLog(nc, { directReadLimit: 0 }),
  hybrid: await createJetStreamEventLog(nc, {}),
};

const time = async (label: string, n: number, fn: (i: number) => Promise<unknown>): Promise<void> => {
  for (let i = 0; i < Math.min(n, 20); i++) await fn(i); // warm up
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const q = (p: number): string => (samples[Math.floor(p * (samples.length - 1))] ?? 0).toFixed(3);
  console.log(`${label.padEnd(40)} p50 ${q(0.5)} ms  p99 ${q(0.99)} ms  (n=${n})`);
};

// Background noise so aggregates are interleaved with other subjects.
for (let i = 0; i < 2_000; i++) await log.append(appendRequest(subjectRef(`noise${i}`)));

let versions = new Map<string, number>();
const appendTo = async (id: string): Promise<void> => {
  const r = await log.append(appendRequest(subjectRef(id), { expectedVersion: versions.get(id) ?? 0 }));
  versions.set(id, r.seq);
};
await time("append (new aggregate)", 1_000, (i) => appendTo(`new${i}`));
await time("append (existing aggregate)", 1_000, () => appendTo("hot"));

for (const size of [1, 5, 16, 50, 200, 2_000]) {
  const id = `agg${size}`;
  for (let i = 0; i < size; i++) {
    await appendTo(id);
    await log.append(appendRequest(subjectRef(`noise-${size}-${i}`)));
  }
  for (const [name, view] of Object.entries(views)) {
    await time(`readAggregate ${size} msgs, ${name}`, size >= 2_000 ? 20 : 200, () => view.readAggregate(subjectRef(id)));
  }
}
await time("readAggregate missing aggregate", 500, () => log.readAggregate(subjectRef("missing")));
await time("get(seq)", 1_000, (i) => log.get(1 + (i % 2_000)));
await time("headSequence", 1_000, () => log.headSequence());
const head = await log.headSequence();
await time(`follow from 1 to head (${head} msgs)`, 5, async () => {
  const controller = new AbortController();
  for await (const e of log.follow(1, controller.signal)) if (e.seq >= head) controller.abort();
});
versions = new Map();
await nc.close();
await log.close();
await server.stop();
