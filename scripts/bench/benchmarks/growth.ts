import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, status, type ServiceError } from "@grpc/grpc-js";
import { IntrospectionServiceClient, type IntrospectResponse } from "../../../services/gen/grantledger/v1/introspection_service.js";
import { freePort, startNatsServer, type NatsServer } from "../../nats-server.js";
import { alternate, CPU, med, P50, summarize } from "../lib/ab.js";
import { fillGrowthHistory } from "../lib/growth-history.js";
import { call, ledgerEnv } from "../lib/ledger.js";
import { startLoadGenerator, type LoadGenerator } from "../lib/load.js";
import { sleep, spawnLedgerCli, type Child } from "../lib/proc.js";
import { atMost, type Benchmark, type BenchOptions, type BenchResult, type Ratio } from "../lib/types.js";

const CONCURRENCY = 100;
const CHANNELS = 4;
/** Tokens the load generator presents, spread evenly over the whole set (so lookups touch all of it). */
const SAMPLE = 10_000;

/** One read side at one size: its nats-server, its ledger process, and what the fill and catch-up cost. */
interface Stack {
  readonly label: string;
  readonly tokens: number;
  readonly nats: NatsServer;
  readonly ledger: Child;
  readonly dataDir: string;
  readonly load: LoadGenerator;
  readonly fillMs: number;
  readonly catchUpMs: number;
  readonly readModelBytes: number;
  stop(): Promise<void>;
}

/**
 * Waits until every projection of the ledger (tokens and audit) has applied `head`, from its
 * metrics: the read model answering for its last token is not enough, a projection still catching
 * up in the same process would take the event loop from the measured load.
 */
async function allProjectionsAt(metricsPort: number, head: number): Promise<void> {
  for (;;) {
    const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
    const applied = [...text.matchAll(/^grantledger_projection_applied_sequence\{projection="([^"]+)"\} (\d+)/gm)].map((m) => Number(m[2]));
    if (applied.length > 0 && applied.every((seq) => seq >= head)) return;
    await sleep(500);
  }
}

/** Bytes of the tokens read model (its active file, WAL included), as the ledger left it. */
async function readModelBytes(dataDir: string): Promise<number> {
  const dir = join(dataDir, "projections");
  let total = 0;
  for (const name of await readdir(dir)) if (name.startsWith("tokens")) total += (await stat(join(dir, name))).size;
  return total;
}

async function startStack(tokens: number, hashKey: string, options: BenchOptions): Promise<Stack> {
  const label = `${tokens.toLocaleString("en-US")} live tokens`;
  const nats = await startNatsServer();
  const dataDir = await mkdtemp(join(tmpdir(), "gl-bench-growth-"));
  const children: Child[] = [];
  const stop = async (): Promise<void> => {
    for (const c of children) await c.stop();
    await nats.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const filled = performance.now();
    const history = await fillGrowthHistory(nats.url, tokens, SAMPLE, { id: "k1", secret: Buffer.from(hashKey, "base64") });
    const fillMs = performance.now() - filled;
    options.log(`  ${label}: ${history.messages} messages appended in ${(fillMs / 1000).toFixed(1)} s`);
    const port = await freePort();
    const metricsPort = await freePort();
    const ledger = spawnLedgerCli(["serve"], {
      ...ledgerEnv(nats.url, dataDir, port),
      GL_ROLES: "introspection,projector",
      GL_TOKEN_HASH_KEY: hashKey,
      GL_METRICS_PORT: String(metricsPort),
    });
    children.push(ledger);
    const started = performance.now();
    await ledger.waitForPort(port, 120_000);
    // Caught up: the last sampled token answers active at the log's head (UNAVAILABLE until then).
    const client = new IntrospectionServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
    const probe = history.sample[history.sample.length - 1] as string;
    for (;;) {
      try {
        const answer = await call<IntrospectResponse>((m, o, cb) => client.introspect({ token: probe, minSequence: history.messages }, m, o, cb));
        if (!answer.active) throw new Error(`${label}: a sampled token introspects inactive`);
        break;
      } catch (error) {
        if ((error as Partial<ServiceError>).code !== status.UNAVAILABLE) throw error;
        await sleep(500);
      }
    }
    client.close();
    const catchUpMs = performance.now() - started;
    await allProjectionsAt(metricsPort, history.messages);
    const allMs = performance.now() - started;
    const bytes = await readModelBytes(dataDir);
    options.log(`  ${label}: tokens read model caught up in ${(catchUpMs / 1000).toFixed(1)} s (${(bytes / tokens).toFixed(0)} B/token), every projection in ${(allMs / 1000).toFixed(1)} s`);
    const tokensFile = join(dataDir, "bench-tokens.txt");
    await writeFile(tokensFile, history.sample.join("\n"));
    const load = await startLoadGenerator({ kind: "grpc-introspect", address: `127.0.0.1:${port}`, channels: CHANNELS, tokensFile });
    return {
      label,
      tokens,
      nats,
      ledger,
      dataDir,
      load,
      fillMs,
      catchUpMs,
      readModelBytes: bytes,
      async stop() {
        await load.close();
        await stop();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Introspection as the read model grows: the same load (100 in flight, tokens sampled evenly over
 * the whole set) against read sides holding 10k, 1M (and with --size, more) live tokens, each
 * with its own nats-server and ledger process (introspection + projector), alternating. The
 * histories are appended straight to the log (a client, a grant per 1,000 tokens, token.issued
 * messages of 100 tokens) and each ledger builds its read model from them, as a new replica does.
 */
export const growth: Benchmark = {
  name: "growth",
  title: "Introspection at 10k, 1M, 10M live tokens",
  async run(options: BenchOptions): Promise<BenchResult> {
    const sizes = options.smoke ? [200, 2_000] : [10_000, 1_000_000, ...(options.size !== undefined && options.size > 1_000_000 ? [options.size] : [])];
    const hashKey = randomBytes(32).toString("base64");
    options.log(`growth: building read sides of ${sizes.join(", ")} live tokens`);
    const stacks: Stack[] = [];
    try {
      for (const size of sizes) stacks.push(await startStack(size, hashKey, options));
      const run = { concurrency: CONCURRENCY, warmupMs: options.warmupS * 1000, durationMs: options.durationS * 1000 };
      // One unmeasured run per side first: a side built early may have had its file pushed out of the
      // OS page cache by the later sides' builds, and would be measured reading from disk.
      for (const s of stacks) await s.load.run(run, { ledger: s.ledger.pid });
      const runs = await alternate(
        options,
        stacks.map((s) => ({ label: s.label, load: s.load, run, watch: { ledger: s.ledger.pid } })),
      );
      const sides = stacks.map((s) => summarize(s.label, runs.get(s.label) ?? []));
      const base = sides[0];
      const ratios: Ratio[] = [];
      for (const [i, side] of sides.entries()) {
        if (i === 0 || base === undefined) continue;
        const stack = stacks[i] as Stack;
        // The issue sets its bar at 10M: a smaller largest size reports figures, not a verdict.
        const top = i === sides.length - 1 && stack.tokens >= 10_000_000;
        const cpu = med(side, CPU) / med(base, CPU);
        const p50 = med(side, P50) / med(base, P50);
        const name = (what: string): string => `${what}, ${stack.label} ÷ ${stacks[0]?.label ?? ""}`;
        ratios.push(top ? atMost(name("server CPU/op"), cpu, 1.5) : { name: name("server CPU/op"), value: cpu });
        ratios.push(top ? atMost(name("p50"), p50, 1.5) : { name: name("p50"), value: p50 });
      }
      for (const s of stacks) {
        ratios.push({ name: `read model bytes per live token, ${s.label}`, value: s.readModelBytes / s.tokens });
        ratios.push({ name: `catch-up from an empty read model, tokens/s, ${s.label}`, value: (s.tokens * 1000) / s.catchUpMs });
      }
      return {
        name: "growth",
        title: this.title,
        date: new Date().toISOString(),
        options: { runs: options.runs, durationS: options.durationS, warmupS: options.warmupS, smoke: options.smoke },
        config: { sizes: sizes.join(", "), "sampled tokens per side (at most)": SAMPLE, concurrency: CONCURRENCY, channels: CHANNELS },
        sides,
        ratios,
        notes: [
          "The 10M point needs `--size 10000000` (about 2 GB of log and 4 GB of read model, tens of minutes to build); the issue's target (≤ 1.5× at 10M) is only judged when that point was measured.",
          "Fill and catch-up per side (catch-up includes the ledger process start, ~1-2 s): " + stacks.map((s) => `${s.label}: fill ${(s.fillMs / 1000).toFixed(0)} s, catch-up ${(s.catchUpMs / 1000).toFixed(0)} s`).join("; ") + ".",
        ],
        raw: Object.fromEntries(runs),
      };
    } finally {
      for (const s of stacks) await s.stop();
    }
  },
};
