/**
 * `audit verify` throughput vs a raw read of the same stream: `npx tsx test/int/audit/bench-verify.ts [N]`
 * (default 100 000 messages). Not a test (no assertions beyond the report being ok). Fills a fresh
 * stream with bench-history.ts's history, chained as the command handlers chain it (`prev` = the
 * grant's previous message), with a signed checkpoint every 100k messages and one at the end (the checkpointer role's code), then times 3
 * runs of each: the raw read (`readRaw`, bytes only) and the verifier the CLI runs over it (every
 * chain, every Merkle root recomputed, every signature checked).
 */
import { connectEventLog } from "../../../services/eventlog/jetstream.js";
import { Checkpointer, describeReport, generateSignerKey, LogVerifier, parseSignerKey, parseVerifierKey, readRaw, streamHead } from "../../../services/transparency/index.js";
import { startNatsServer } from "../../support/nats-server.js";
import { BenchHistory } from "./bench-history.js";

const N = Number(process.argv[2] ?? 100_000);
const CHECKPOINT_EVERY = 100_000;
const server = await startNatsServer();
const log = await connectEventLog({ servers: server.url, name: "bench-verify" });
const signer = parseSignerKey(generateSignerKey("bench-verify"));
const checkpointer = new Checkpointer({ log, signer, origin: "bench.example/LEDGER", intervalMs: 0, actor: "bench", catchUpTimeoutMs: 600_000 }).start();

const t0 = performance.now();
const history = new BenchHistory(log, N, true);
let checkpoints = 0;
for (let i = 0; i < N; i++) {
  await history.append(i);
  if ((i + 1) % CHECKPOINT_EVERY === 0 || i === N - 1) {
    await history.flush();
    await checkpointer.checkpoint();
    checkpoints++;
  }
}
await checkpointer.stop();
const { lastSeq } = await streamHead(log.jsm, log.stream);
console.log(`filled ${lastSeq} messages (${checkpoints} checkpoints) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const verifiers = [parseVerifierKey(signer.verifierKey)];

/** Best and median wall time of 3 runs, and the median CPU time of this process per message. */
async function time(label: string, fn: () => Promise<number>): Promise<number> {
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < 3; i++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const count = await fn();
    walls.push(performance.now() - started);
    const used = process.cpuUsage(cpu);
    cpus.push((used.user + used.system) / Math.max(1, count));
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1] as number;
  console.log(`${label.padEnd(24)} best ${Math.min(...walls).toFixed(0).padStart(7)} ms  median ${median(walls).toFixed(0).padStart(7)} ms  CPU ${median(cpus).toFixed(1)} µs/message`);
  return median(walls);
}

const raw = await time("raw read", async () => {
  let n = 0;
  for await (const m of readRaw(log.js, log.stream, 1, { untilSeq: lastSeq })) n += m.body.length > 0 ? 1 : 0;
  return n;
});
let summary = "";
const verify = await time("audit verify", async () => {
  const verifier = new LogVerifier({ subjectRoot: log.subjectRoot, verifiers });
  for await (const m of readRaw(log.js, log.stream, 1, { untilSeq: lastSeq })) verifier.add(m);
  const report = verifier.finish();
  if (!report.ok) throw new Error(describeReport(report));
  summary = `${describeReport(report)}; rss after verifying ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MB`;
  return report.messages;
});
console.log(`${summary}\nverify ÷ raw, median wall: ${(verify / raw).toFixed(2)}`);
await log.close();
await server.stop();
