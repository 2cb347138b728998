import { alternate, CPU, med, P99, summarize, THROUGHPUT } from "../lib/ab.js";
import { seedTokensFile, startLedgerUnderTest } from "../lib/ledger.js";
import { startLoadGenerator } from "../lib/load.js";
import { spawnTsx } from "../lib/proc.js";
import { freePort } from "../../nats-server.js";
import { atLeast, atMost, type Benchmark, type BenchOptions, type BenchResult } from "../lib/types.js";

const CONCURRENCY = 100;
const CHANNELS = 4;

/**
 * Introspect (unary gRPC) against a no-op grpc-js handler with the same service definition: the
 * distance to what grpc-js itself costs. Tokens are issued through the API first (access + refresh
 * pairs over many grants), and each request picks one at random.
 */
export const introspect: Benchmark = {
  name: "introspect",
  title: "Introspect vs a no-op grpc-js unary handler",
  async run(options: BenchOptions): Promise<BenchResult> {
    const tokens = options.size ?? (options.smoke ? 200 : 10_000);
    const grants = options.smoke ? 8 : 100;
    options.log(`introspect: starting nats-server and the ledger, issuing ${tokens} tokens`);
    const target = await startLedgerUnderTest({ cpuProfDir: options.cpuProfDir });
    const noopPort = await freePort();
    const noop = spawnTsx("scripts/bench/targets/noop-grpc.ts", [String(noopPort)]);
    const loads = [];
    try {
      const { seeded, tokensFile } = await seedTokensFile(target, grants, tokens);
      await noop.waitFor("listening");
      const ours = await startLoadGenerator({ kind: "grpc-introspect", address: target.address, channels: CHANNELS, tokensFile });
      loads.push(ours);
      const baseline = await startLoadGenerator({ kind: "grpc-introspect", address: `127.0.0.1:${noopPort}`, channels: CHANNELS, tokensFile });
      loads.push(baseline);
      const run = { concurrency: CONCURRENCY, warmupMs: options.warmupS * 1000, durationMs: options.durationS * 1000 };
      const runs = await alternate(options, [
        { label: "ledger Introspect", load: ours, run, watch: { ledger: target.ledger.pid } },
        { label: "no-op grpc-js handler", load: baseline, run, watch: { noop: noop.pid } },
      ]);
      const a = summarize("ledger Introspect", runs.get("ledger Introspect") ?? []);
      const b = summarize("no-op grpc-js handler", runs.get("no-op grpc-js handler") ?? []);
      return {
        name: "introspect",
        title: this.title,
        date: new Date().toISOString(),
        options: { runs: options.runs, durationS: options.durationS, warmupS: options.warmupS, smoke: options.smoke },
        config: { tokens: seeded.tokens.slice(0, tokens).length, grants, concurrency: CONCURRENCY, channels: CHANNELS },
        sides: [a, b],
        ratios: [
          atLeast("throughput, ledger ÷ no-op", med(a, THROUGHPUT) / med(b, THROUGHPUT), 0.85),
          atMost("server CPU/op, ledger ÷ no-op", med(a, CPU) / med(b, CPU), 1.2),
          atMost("p99, ledger ÷ no-op", med(a, P99) / med(b, P99), 1.5),
        ],
        notes: [],
        raw: Object.fromEntries(runs),
      };
    } finally {
      for (const load of loads) await load.close();
      await noop.stop();
      await target.stop();
    }
  },
};
