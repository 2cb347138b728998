import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectEventLog } from "../../../services/eventlog/index.js";
import { startNatsServer } from "../../nats-server.js";
import { sampleRss, spawnTsx } from "../lib/proc.js";
import { spread } from "../lib/stats.js";
import { atLeast, atMost, type Benchmark, type BenchOptions, type BenchResult, type SideSummary } from "../lib/types.js";

const WORKER = "scripts/bench/targets/catchup-worker.ts";
const RATE = "throughput (events/s)";
const CPU = "CPU/event (µs)";
const RSS = "peak RSS (MB)";

interface WorkerRun {
  readonly elapsedMs: number;
  readonly cpuMs: number;
  readonly count: number;
  readonly peakRssBytes: number;
}

async function runWorker(args: string[], nodeArgs: string[] = []): Promise<WorkerRun> {
  const child = spawnTsx(WORKER, args, {}, nodeArgs);
  const rss = sampleRss(child.pid, 50);
  const exited = new Promise<number | null>((r) => child.proc.once("exit", (code) => r(code)));
  const code = await exited;
  const { peakBytes } = rss.stop();
  const line = child.output().split("\n").find((l) => l.startsWith("RESULT "));
  if (code !== 0 || line === undefined) throw new Error(`${args[0]} failed (${code}):\n${child.output()}`);
  return { ...(JSON.parse(line.slice("RESULT ".length)) as Omit<WorkerRun, "peakRssBytes">), peakRssBytes: peakBytes };
}

/**
 * Projection catch-up from sequence 1 of N events (the tokens projection: ordered consumer, decode
 * and validate, handlers, one transaction per 512 messages with its checkpoint) against its two
 * physical limits: a raw ordered read of the same stream (bytes only), and raw SQLite inserts of
 * the same rows with the same transaction boundaries (no log, no decode). RSS is sampled every
 * 50 ms in each process.
 */
export const catchup: Benchmark = {
  name: "catchup",
  title: "Projection catch-up vs raw ordered read and raw SQLite inserts",
  async run(options: BenchOptions): Promise<BenchResult> {
    const n = options.size ?? (options.smoke ? 2_000 : 50_000);
    const nats = await startNatsServer();
    const dir = await mkdtemp(join(tmpdir(), "gl-bench-catchup-"));
    try {
      const log = await connectEventLog({ servers: nats.url, name: "bench-catchup-setup" });
      await log.close();
      options.log(`catchup: appending ${n} synthetic messages`);
      const generated = await runWorker(["generate", nats.url, String(n)]);
      options.log(`  generated in ${(generated.elapsedMs / 1000).toFixed(1)} s`);
      // The rows raw-insert copies: what one (untimed) projection run writes.
      const reference = join(dir, "reference.db");
      const ref = await runWorker(["projection", nats.url, String(n), reference]);
      options.log(`  reference projection run: ${((n * 1000) / ref.elapsedMs).toFixed(0)} events/s (not counted)`);
      const sides = ["projection", "raw-read", "raw-insert"] as const;
      const runs: Record<(typeof sides)[number], WorkerRun[]> = { projection: [], "raw-read": [], "raw-insert": [] };
      let fileNo = 0;
      let rows = 0;
      for (let round = 0; round < options.runs; round++) {
        // Rotate the order every round so drift in the machine's load hits every side alike.
        const order = sides.map((_, i) => sides[(i + round) % sides.length] as (typeof sides)[number]);
        for (const side of order) {
          const file = join(dir, `run-${fileNo++}.db`);
          const args =
            side === "projection" ? [side, nats.url, String(n), file] : side === "raw-read" ? [side, nats.url, String(n)] : [side, reference, file];
          const profile = side === "projection" && options.cpuProfDir !== undefined && round === 0 ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`] : [];
          const r = await runWorker(args, profile);
          if (side === "raw-insert") rows = r.count;
          else if (r.count < n) throw new Error(`${side} stopped at ${r.count} of ${n}`);
          runs[side].push(r);
          options.log(
            `  round ${round + 1}/${options.runs} ${side}: ${((n * 1000) / r.elapsedMs).toFixed(0)} events/s, ` +
              `${((r.cpuMs * 1000) / n).toFixed(1)} µs CPU/event, peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MB`,
          );
          await rm(file, { force: true });
          await rm(`${file}-wal`, { force: true });
          await rm(`${file}-shm`, { force: true });
        }
      }
      const summary = (label: string, rs: WorkerRun[]): SideSummary => ({
        label,
        metrics: {
          [RATE]: spread(rs.map((r) => (n * 1000) / r.elapsedMs)),
          [CPU]: spread(rs.map((r) => (r.cpuMs * 1000) / n)),
          [RSS]: spread(rs.map((r) => r.peakRssBytes / 2 ** 20)),
        },
      });
      const a = summary("tokens projection catch-up", runs.projection);
      const read = summary("raw ordered read (bytes only)", runs["raw-read"]);
      const insert = summary("raw SQLite inserts (same rows, ~512 messages' rows/txn)", runs["raw-insert"]);
      const rate = (s: SideSummary): number => s.metrics[RATE]?.median ?? 0;
      const slower = Math.min(rate(read), rate(insert));
      const peakRss = Math.max(...runs.projection.map((r) => r.peakRssBytes)) / 2 ** 20;
      return {
        name: "catchup",
        title: this.title,
        date: new Date().toISOString(),
        options: { runs: options.runs, durationS: 0, warmupS: 0, smoke: options.smoke },
        config: { events: n, "rows written": rows, "batch (messages/txn)": 512, "generated at (msgs/s)": Math.round((n * 1000) / generated.elapsedMs) },
        sides: [a, read, insert],
        ratios: [
          atLeast("projection ÷ slower of raw read and raw insert", rate(a) / slower, 0.7),
          { name: "projection ÷ raw read", value: rate(a) / rate(read) },
          { name: "projection ÷ raw insert", value: rate(a) / rate(insert) },
          {
            name: "CPU/event, (raw read + raw insert) ÷ projection",
            value: ((read.metrics[CPU]?.median ?? 0) + (insert.metrics[CPU]?.median ?? 0)) / (a.metrics[CPU]?.median ?? 1),
          },
          atMost("projection peak RSS (MB), all runs", peakRss, 300),
        ],
        notes: [
          `Synthetic history (scripts/bench/lib/synthetic.ts): ${10} client registrations, then per grant one grant.created and nine token.issued (access + refresh), every 20th grant a family revocation, every 50th a grant revocation. Each run starts from an empty SQLite file; the size of one run is --size (the issue's figure is 10M).`,
          "Raw inserts copy the rows an untimed projection run wrote (same schema, from its sqlite_master), in seq order, 1536 rows per transaction (~512 messages' worth); only the insert transactions are timed. Rates are per log message for all three sides.",
        ],
        raw: runs,
      };
    } finally {
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
