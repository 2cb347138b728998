import { alternate, CPU, med, summarize, THROUGHPUT } from "../lib/ab.js";
import type { MeasuredRun } from "../lib/load.js";
import { seedTokensFile, startLedgerUnderTest } from "../lib/ledger.js";
import { startLoadGenerator } from "../lib/load.js";
import { startOidcPeer } from "../lib/oidc-peer.js";
import { spread } from "../lib/stats.js";
import { atLeast, type Benchmark, type BenchOptions, type BenchResult, type SideSummary } from "../lib/types.js";

const BATCH_SIZE = 100;
/** Batch calls in flight: a gateway coalescing its requests keeps a few batches going, not hundreds. */
const BATCHES_IN_FLIGHT = 8;
/** Single-token requests in flight, as in introspect-peer. */
const CONCURRENCY = 100;
const CHANNELS = 4;

const BATCH = `ledger IntrospectBatch (gRPC, ${BATCH_SIZE} tokens per call)`;
const SINGLE = "ledger Introspect (gRPC, 1 token per call)";
const PEER = "oidc-provider introspection (HTTP, 1 token per request)";
const REQUESTS = "requests/s";

/** The usual summary plus requests/s: ops are introspections, a batch call is many of them. */
const withRequests = (label: string, runs: readonly MeasuredRun[]): SideSummary => {
  const side = summarize(label, runs);
  return { label, metrics: { ...side.metrics, [REQUESTS]: spread(runs.map((r) => (r.requests * 1000) / r.windowMs)) } };
};

/**
 * IntrospectBatch (100 random tokens per call, 8 calls in flight over 4 channels) against
 * node-oidc-provider's introspection endpoint (one token per request, 100 in flight over 100
 * keep-alive sockets, the load generator introspect-peer uses), with the ledger's unary Introspect
 * as a third side: the same number of tokens everywhere, introspections/s and server CPU per
 * introspection compared.
 */
export const introspectBatch: Benchmark = {
  name: "introspect-batch",
  title: "IntrospectBatch vs node-oidc-provider's introspection endpoint (introspections/s)",
  async run(options: BenchOptions): Promise<BenchResult> {
    const tokens = options.size ?? (options.smoke ? 200 : 10_000);
    const grants = options.smoke ? 8 : 100;
    options.log(`introspect-batch: starting nats-server, the ledger and oidc-provider with ${tokens} tokens each`);
    const target = await startLedgerUnderTest({ cpuProfDir: options.cpuProfDir });
    const peer = await startOidcPeer(target.dataDir, tokens);
    const loads = [];
    try {
      const { tokensFile } = await seedTokensFile(target, grants, tokens);
      await peer.ready();
      const batch = await startLoadGenerator({ kind: "grpc-introspect-batch", address: target.address, channels: CHANNELS, tokensFile, batchSize: BATCH_SIZE });
      loads.push(batch);
      const single = await startLoadGenerator({ kind: "grpc-introspect", address: target.address, channels: CHANNELS, tokensFile });
      loads.push(single);
      const theirs = await startLoadGenerator(peer.load(CONCURRENCY));
      loads.push(theirs);
      const timing = { warmupMs: options.warmupS * 1000, durationMs: options.durationS * 1000 };
      const runs = await alternate(options, [
        { label: BATCH, load: batch, run: { ...timing, concurrency: BATCHES_IN_FLIGHT }, watch: { ledger: target.ledger.pid } },
        { label: SINGLE, load: single, run: { ...timing, concurrency: CONCURRENCY }, watch: { ledger: target.ledger.pid } },
        { label: PEER, load: theirs, run: { ...timing, concurrency: CONCURRENCY }, watch: { "oidc-provider": peer.child.pid } },
      ]);
      const b = withRequests(BATCH, runs.get(BATCH) ?? []);
      const s = withRequests(SINGLE, runs.get(SINGLE) ?? []);
      const p = withRequests(PEER, runs.get(PEER) ?? []);
      return {
        name: "introspect-batch",
        title: this.title,
        date: new Date().toISOString(),
        options: { runs: options.runs, durationS: options.durationS, warmupS: options.warmupS, smoke: options.smoke },
        config: {
          tokens,
          grants,
          "tokens per batch call": BATCH_SIZE,
          "in flight": `${BATCHES_IN_FLIGHT} batch calls / ${CONCURRENCY} single requests`,
          channels: `${CHANNELS} gRPC / ${CONCURRENCY} HTTP keep-alive sockets`,
        },
        sides: [b, s, p],
        ratios: [
          atLeast("introspections/s, IntrospectBatch ÷ oidc-provider", med(b, THROUGHPUT) / med(p, THROUGHPUT), 5),
          { name: "server CPU/introspection, IntrospectBatch ÷ oidc-provider", value: med(b, CPU) / med(p, CPU) },
          { name: "introspections/s, IntrospectBatch ÷ Introspect", value: med(b, THROUGHPUT) / med(s, THROUGHPUT) },
          { name: "server CPU/introspection, IntrospectBatch ÷ Introspect", value: med(b, CPU) / med(s, CPU) },
        ],
        notes: [
          `An op is one introspection: a batch call of ${BATCH_SIZE} tokens counts ${BATCH_SIZE} ops and one latency sample, so its p50/p99 are per call of ${BATCH_SIZE}. Every token of every side is active, and every answer is checked.`,
          "oidc-provider runs as in introspect-peer (unbounded in-memory adapter, client_secret_basic on every request); it has no batch endpoint, so one token per request is what a gateway can do with it.",
        ],
        raw: Object.fromEntries(runs),
      };
    } finally {
      for (const load of loads) await load.close();
      await peer.child.stop();
      await target.stop();
    }
  },
};
