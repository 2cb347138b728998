import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ensureStream } from "../../../services/eventlog/index.js";
import { startNatsCluster, type NatsCluster } from "../../nats-cluster.js";
import { startNatsServer, type NatsServer } from "../../nats-server.js";
import { alternate, CPU, med, P99, summarize, THROUGHPUT, type Side } from "../lib/ab.js";
import { startLoadGenerator, type LoadGenerator } from "../lib/load.js";
import type { Benchmark, BenchOptions, BenchResult } from "../lib/types.js";

const CONCURRENCY = 256;
/** About the size of a token.issued message of the ledger. */
const BODY_BYTES = 700;

interface Setup {
  readonly label: string;
  readonly url: string;
  readonly pids: () => Record<string, number>;
  stop(): Promise<void>;
}

async function single(label: string, syncInterval: string | undefined): Promise<Setup> {
  const args: string[] = [];
  if (syncInterval !== undefined) {
    const conf = join(await mkdtemp(join(tmpdir(), "gl-bench-sync-")), "nats.conf");
    await writeFile(conf, `jetstream {\n  sync_interval: ${syncInterval}\n}\n`);
    args.push("-c", conf);
  }
  const server: NatsServer = await startNatsServer({ args });
  return { label, url: server.url, pids: () => ({ "nats-server": server.pid }), stop: () => server.stop() };
}

async function cluster(label: string, syncInterval: string | undefined): Promise<Setup> {
  const c: NatsCluster = await startNatsCluster({ size: 3, ...(syncInterval === undefined ? {} : { syncInterval }) });
  return { label, url: c.servers[0] as string, pids: () => Object.fromEntries(c.nodes.map((n) => [n.name, n.pid])), stop: () => c.stop() };
}

/**
 * What durability costs: raw JetStream publishes (msgID + expected last subject sequence, the
 * ledger's append, 256 in flight, one subject per lane) into the log's stream config on one node
 * and on a 3-node cluster (replicas 3), each with the server's default `sync_interval` (fsync every
 * 2 minutes; a write is acknowledged once in the OS page cache of one node, or of a majority) and with
 * `sync_interval: always` (fsync before every acknowledgement).
 */
export const durability: Benchmark = {
  name: "durability",
  title: "Append durability: one node vs 3 replicas, sync_interval default (2m) vs always",
  async run(options: BenchOptions): Promise<BenchResult> {
    const concurrency = options.smoke ? 16 : CONCURRENCY;
    const setups: Setup[] = [];
    const loads: LoadGenerator[] = [];
    try {
      options.log("durability: starting 1 + 1 nats-servers and two 3-node clusters");
      setups.push(await single("1 node, sync 2m (default)", undefined));
      setups.push(await single("1 node, sync always", "always"));
      setups.push(await cluster("3 replicas, sync 2m (default)", undefined));
      setups.push(await cluster("3 replicas, sync always", "always"));
      const run = { concurrency, warmupMs: options.warmupS * 1000, durationMs: options.durationS * 1000 };
      const sides: Side[] = [];
      for (const [i, setup] of setups.entries()) {
        const nc = await connect({ servers: setup.url, name: "bench-durability-setup" });
        try {
          await ensureStream(await jetstreamManager(nc), { stream: "RAWBENCH", subjectRoot: "rawbench", replicas: i >= 2 ? 3 : 1 });
        } finally {
          await nc.close();
        }
        const load = await startLoadGenerator({ kind: "js-publish", natsUrl: setup.url, subjectRoot: "rawbench", bodyBytes: BODY_BYTES, headers: {} });
        loads.push(load);
        sides.push({ label: setup.label, load, run, watch: setup.pids() });
      }
      const runs = await alternate(options, sides);
      const summaries = setups.map((s) => summarize(s.label, runs.get(s.label) ?? []));
      const [base, ...others] = summaries;
      if (base === undefined) throw new Error("no baseline");
      return {
        name: "durability",
        title: this.title,
        date: new Date().toISOString(),
        options: { runs: options.runs, durationS: options.durationS, warmupS: options.warmupS, smoke: options.smoke },
        config: { concurrency, "message bytes": BODY_BYTES, "cluster nodes": 3 },
        sides: summaries,
        ratios: others.flatMap((o) => [
          { name: `throughput, ${o.label} ÷ ${base.label}`, value: med(o, THROUGHPUT) / med(base, THROUGHPUT) },
          { name: `p99, ${o.label} ÷ ${base.label}`, value: med(o, P99) / med(base, P99) },
          { name: `server CPU/op (all nodes), ${o.label} ÷ ${base.label}`, value: med(o, CPU) / med(base, CPU) },
        ]),
        notes: [
          "All nodes share this machine's 2 cores and one disk, so the cluster pays for three copies on the same hardware; on separate machines replication costs latency, not CPU.",
          "The ledger appends with a majority acknowledgement: with replicas 3 a kill -9 of any one node loses nothing acknowledged even with the default sync interval; sync always additionally survives losing power on every node at once.",
        ],
        raw: Object.fromEntries(runs),
      };
    } finally {
      for (const load of loads) await load.close();
      for (const s of setups) await s.stop();
    }
  },
};
