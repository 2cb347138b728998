/**
 * Can timing tell inactive tokens apart? Introspects malformed, unknown, revoked and resource-hidden
 * tokens through the in-process Introspect handler (caller gate, zod, service, a real SQLite tokens
 * read model, two verifying keys as after a rotation), interleaved: each round runs a batch of every
 * kind in a rotated order, so drift (JIT, GC, a neighbour's load) hits all kinds alike. Prints each
 * kind's median and p90 per call and the medians' ratios to `unknown`. Not a test: timing is never
 * asserted; test/unit/security/introspection-work.test.ts pins the work (HMACs, lookups) instead.
 *
 *   npx tsx scripts/bench/introspect-inactive.ts [rounds=400] [batch=50]
 */
import { INACTIVE_KINDS, introspectionRig } from "../../test/support/introspection-bench.js";

const rounds = Number(process.argv[2] ?? 400);
const batch = Number(process.argv[3] ?? 50);
const rig = introspectionRig();

const samples = new Map<string, number[]>(INACTIVE_KINDS.map((kind) => [kind, []]));
const runBatch = async (kind: (typeof INACTIVE_KINDS)[number], keep: boolean): Promise<void> => {
  const token = rig.tokens[kind];
  const into = samples.get(kind) as number[];
  for (let i = 0; i < batch; i++) {
    const started = process.hrtime.bigint();
    const answer = await rig.introspect(token);
    const ns = Number(process.hrtime.bigint() - started);
    if (answer.active) throw new Error(`${kind} token answered active`);
    if (keep) into.push(ns);
  }
};

// Warm-up (JIT, SQLite statement cache), not recorded.
for (let r = 0; r < 40; r++) for (const kind of INACTIVE_KINDS) await runBatch(kind, false);
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < INACTIVE_KINDS.length; k++) {
    await runBatch(INACTIVE_KINDS[(r + k) % INACTIVE_KINDS.length] as (typeof INACTIVE_KINDS)[number], true);
  }
}
rig.close();

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const stats = INACTIVE_KINDS.map((kind) => {
  const sorted = [...(samples.get(kind) as number[])].sort((a, b) => a - b);
  return { kind, n: sorted.length, median: quantile(sorted, 0.5), p90: quantile(sorted, 0.9) };
});
const base = stats.find((s) => s.kind === "unknown")?.median ?? NaN;
const us = (ns: number): string => (ns / 1000).toFixed(2).padStart(7);
process.stdout.write(`Introspect, inactive answers, in-process handler: ${rounds} rounds × ${batch} calls per kind, interleaved\n`);
process.stdout.write(`kind        calls   median µs   p90 µs   median / unknown\n`);
for (const s of stats) {
  process.stdout.write(`${s.kind.padEnd(10)} ${String(s.n).padStart(6)}   ${us(s.median)}   ${us(s.p90)}   ${(s.median / base).toFixed(3)}\n`);
}
const medians = stats.map((s) => s.median);
process.stdout.write(`spread of medians (max / min): ${(Math.max(...medians) / Math.min(...medians)).toFixed(3)}\n`);
