import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ensureStream } from "../../../services/eventlog/index.js";
import { alternate, CPU, med, P99, summarize, THROUGHPUT } from "../lib/ab.js";
import { seedLedger, startLedgerUnderTest } from "../lib/ledger.js";
import { startLoadGenerator } from "../lib/load.js";
import { atLeast, type Benchmark, type BenchOptions, type BenchResult } from "../lib/types.js";

const CONCURRENCY = 256;
const CHANNELS = 4;

/**
 * IssueTokens (access + refresh, 256 in flight, one grant per in-flight lane) against raw
 * JetStream publishes of a message of the same size and headers, with a msgID and the expected
 * last subject sequence (one subject per lane), 256 in flight, into a stream with the log's config.
 */
export const issue: Benchmark = {
  name: "issue",
  title: "IssueTokens vs raw JetStream publish (msgID + expected last subject sequence)",
  async run(options: BenchOptions): Promise<BenchResult> {
    const concurrency = options.smoke ? 32 : CONCURRENCY;
    options.log(`issue: starting nats-server and the ledger, creating ${concurrency} grants`);
    const target = await startLedgerUnderTest({ cpuProfDir: options.cpuProfDir });
    const loads = [];
    const nc = await connect({ servers: target.nats.url, name: "bench-issue-setup" });
    try {
      const seeded = await seedLedger(target.address, concurrency, 1);
      const grantsFile = join(target.dataDir, "bench-grants.txt");
      await writeFile(grantsFile, seeded.grantIds.join("\n"));
      // The raw side publishes what the ledger publishes: same body size, same headers.
      const jsm = await jetstreamManager(nc);
      const sample = await jsm.direct.getMessage("LEDGER", { seq: seeded.lastSequence });
      if (sample === null) throw new Error("the token.issued message is not in the log");
      const headers: Record<string, string> = {};
      for (const [key, values] of sample.header ?? []) {
        if (!key.startsWith("Nats-")) headers[key] = values[0] ?? "";
      }
      await ensureStream(jsm, { stream: "RAWBENCH", subjectRoot: "rawbench" });

      const ours = await startLoadGenerator({ kind: "grpc-issue", address: target.address, channels: CHANNELS, grantsFile });
      loads.push(ours);
      const raw = await startLoadGenerator({ kind: "js-publish", natsUrl: target.nats.url, subjectRoot: "rawbench", bodyBytes: sample.data.length, headers });
      loads.push(raw);
      const run = { concurrency, warmupMs: options.warmupS * 1000, durationMs: options.durationS * 1000 };
      const runs = await alternate(options, [
        { label: "ledger IssueTokens", load: ours, run, watch: { ledger: target.ledger.pid, "nats-server": target.natsPid() } },
        { label: "raw JetStream publish", load: raw, run, watch: { "nats-server": target.natsPid() } },
      ]);
      const a = summarize("ledger IssueTokens", runs.get("ledger IssueTokens") ?? []);
      const b = summarize("raw JetStream publish", runs.get("raw JetStream publish") ?? []);
      return {
        name: "issue",
        title: this.title,
        date: new Date().toISOString(),
        options: { runs: options.runs, durationS: options.durationS, warmupS: options.warmupS, smoke: options.smoke },
        config: { concurrency, grants: concurrency, channels: CHANNELS, "message bytes": sample.data.length },
        sides: [a, b],
        ratios: [
          atLeast("throughput, IssueTokens ÷ raw publish", med(a, THROUGHPUT) / med(b, THROUGHPUT), 0.5),
          { name: "server CPU/op (ledger + nats-server ÷ nats-server)", value: med(a, CPU) / med(b, CPU) },
          { name: "p99, IssueTokens ÷ raw publish", value: med(a, P99) / med(b, P99) },
        ],
        notes: [
          "Each IssueTokens call mints an access and a refresh token and appends one token.issued message; server CPU is the ledger plus nats-server (the raw side: nats-server only).",
        ],
        raw: Object.fromEntries(runs),
      };
    } finally {
      for (const load of loads) await load.close();
      await nc.close();
      await target.stop();
    }
  },
};
