/**
 * Tamper-evidence numbers on a local nats-server: appends N chained envelopes straight to a stream,
 * then times `audit verify` (LogVerifier over the raw stream), the checkpointer's tree rebuild, and
 * proof generation at that size. `npx tsx scripts/bench/transparency.ts [N]` (default 100000).
 */
import { randomUUID } from "node:crypto";
import { encodeEnvelope, connectEventLog, subjectFor } from "../../services/eventlog/index.js";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { generateSignerKey, LogVerifier, MerkleTree, parseSignerKey, parseVerifierKey, readRaw, Checkpointer } from "../../services/transparency/index.js";
import { startNatsServer } from "../nats-server.js";

const n = Number(process.argv[2] ?? 100_000);
const nats = await startNatsServer();
const log = await connectEventLog({ servers: nats.url, stream: "BENCH", subjectRoot: "bench" });
try {
  const aggregates = 1000;
  const last: (string | null)[] = Array.from({ length: aggregates }, () => null);
  let t = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const a = i % aggregates;
    const subject = `sub-${a}`;
    const encoded = encodeEnvelope({
      aggregate: { kind: "subject", id: subject },
      expectedVersion: 0,
      msgId: randomUUID(),
      meta: { eventId: randomUUID(), at: 1_700_000_000_000 + i, actor: "bench", requestId: randomUUID() },
      prev: last[a] ?? null,
      events: [{ type: "subject.revoked", data: { subject, reason: `bench ${i}`, revokedAt: 1_700_000_000_000 + i } }],
    });
    last[a] = encoded.hash;
    const h = natsHeaders();
    for (const [k, v] of Object.entries(encoded.headers)) h.set(k, v);
    pending.push(log.js.publish(subjectFor({ kind: "subject", id: subject }, "bench"), encoded.body, { headers: h }));
    if (pending.length >= 500) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  console.log(`appended ${n} messages in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const signer = parseSignerKey(generateSignerKey("bench/BENCH"));
  t = performance.now();
  const checkpointer = new Checkpointer({ log, signer, origin: "bench/BENCH", intervalMs: 0, catchUpTimeoutMs: 600_000 }).start();
  await checkpointer.checkpoint();
  console.log(`checkpointer: tree rebuilt from the log and checkpoint signed in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  await checkpointer.stop();

  t = performance.now();
  const verifier = new LogVerifier({ subjectRoot: "bench", verifiers: [parseVerifierKey(signer.verifierKey)] });
  for await (const m of readRaw(log.js, "BENCH", 1, { untilSeq: n + 1 })) verifier.add(m);
  const report = verifier.finish();
  const s = (performance.now() - t) / 1000;
  console.log(`verify: ${report.ok ? "ok" : "FAILED"} ${report.messages} messages, ${report.checkpoints} checkpoints in ${s.toFixed(1)} s (${Math.round(report.messages / s)} events/s)`);

  const tree = new MerkleTree();
  t = performance.now();
  for await (const m of readRaw(log.js, "BENCH", 1, { untilSeq: n })) tree.appendData(m.body);
  console.log(`raw read + leaf hashing only: ${Math.round(n / ((performance.now() - t) / 1000))} messages/s`);
  t = performance.now();
  for (let i = 0; i < 1000; i++) tree.inclusionProof((i * 7919) % n, n);
  const incl = (performance.now() - t) / 1000;
  t = performance.now();
  for (let i = 0; i < 1000; i++) tree.consistencyProof(1 + ((i * 7919) % (n - 1)), n);
  const cons = (performance.now() - t) / 1000;
  console.log(`at ${n} leaves: inclusion proof ${(incl * 1000).toFixed(0)} µs, consistency proof ${(cons * 1000).toFixed(0)} µs (mean of 1000)`);
} finally {
  await log.close();
  await nats.stop();
}
