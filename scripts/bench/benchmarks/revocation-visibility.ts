import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { IntrospectionServiceClient, type IntrospectResponse } from "../../../services/gen/grantledger/v1/introspection_service.js";
import { RevocationServiceClient } from "../../../services/gen/grantledger/v1/revocation_service.js";
import { TokenServiceClient, type IssueTokensResponse } from "../../../services/gen/grantledger/v1/token_service.js";
import { freePort } from "../../nats-server.js";
import { CPU, P99, summarize, THROUGHPUT } from "../lib/ab.js";
import { call, ledgerEnv, seedTokensFile, startLedgerUnderTest } from "../lib/ledger.js";
import { startLoadGenerator, type LoadGenerator, type MeasuredRun } from "../lib/load.js";
import { sleep, spawnLedgerCli, type Child } from "../lib/proc.js";
import { quantile, spread } from "../lib/stats.js";
import { atMost, type Benchmark, type BenchOptions, type BenchResult, type Ratio, type SideSummary } from "../lib/types.js";

const CONCURRENCY = 100;
const CHANNELS = 4;
/** Pollers per probe, started a fraction of a poll apart, so the first inactive answer is timed finely. */
const POLLERS = 4;

type Invoke<Res> = Parameters<typeof call<Res>>[0];
const probeCall = <Res>(invoke: Invoke<Res>): Promise<Res> => call(invoke, "bench-probe", 10_000);

/** How the replica serves: one process with its own projector, or a projector and an introspection process over one file. */
type Layout = "own copy" | "shared file";

interface Replica {
  readonly layout: Layout;
  readonly address: string;
  /** Label → pid of the replica's processes, for CPU. */
  readonly pids: Readonly<Record<string, number>>;
  stop(): Promise<void>;
}

/**
 * A replica of the read side, its processes started as the README's two layouts describe:
 * "own copy" is one `introspection,projector` process; "shared file" is a `projector` process and an
 * `introspection` process on one data dir (the introspection process reads the projector's file).
 */
async function startReplica(layout: Layout, natsUrl: string, env: NodeJS.ProcessEnv): Promise<Replica> {
  const dataDir = await mkdtemp(join(tmpdir(), "gl-bench-replica-"));
  const children: Child[] = [];
  const spawnRole = async (roles: string): Promise<number> => {
    const port = await freePort();
    const child = spawnLedgerCli(["serve"], { ...ledgerEnv(natsUrl, dataDir, port), GL_ROLES: roles, GL_METRICS_PORT: "0", ...env });
    children.push(child);
    await child.waitForPort(port);
    return port;
  };
  const stop = async (): Promise<void> => {
    for (const child of children.reverse()) await child.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    if (layout === "own copy") {
      const port = await spawnRole("introspection,projector");
      return { layout, address: `127.0.0.1:${port}`, pids: { replica: (children[0] as Child).pid }, stop };
    }
    await spawnRole("projector");
    const port = await spawnRole("introspection");
    return { layout, address: `127.0.0.1:${port}`, pids: { projector: (children[0] as Child).pid, introspection: (children[1] as Child).pid }, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * One probe: issue a token on the command process, wait until the replica knows it, revoke it, and
 * time from the revocation's acknowledgement until a request to the replica, without min_sequence,
 * first answers inactive. The window is measured from the start of that request (it may have been
 * answered from a read model that had the revocation before the request began), so it is the
 * staleness a caller could observe, not the request's latency; 0 when the replica had it before the
 * acknowledgement arrived.
 */
async function probe(tokens: TokenServiceClient, revocation: RevocationServiceClient, replica: IntrospectionServiceClient, grantId: string, n: number): Promise<number> {
  const issued = await probeCall<IssueTokensResponse>((m, o, cb) => tokens.issueTokens({ requestId: `probe-${n}-${Date.now()}`, grantId, scopes: [], includeRefreshToken: false }, m, o, cb));
  const seen = await probeCall<IntrospectResponse>((m, o, cb) => replica.introspect({ token: issued.accessToken, minSequence: issued.sequence }, m, o, cb));
  if (!seen.active) throw new Error("the replica calls a fresh token inactive");
  let acknowledgedAt = Number.POSITIVE_INFINITY;
  let firstInactiveStart = Number.POSITIVE_INFINITY;
  let done = false;
  const poller = async (offsetMs: number): Promise<void> => {
    if (offsetMs > 0) await sleep(offsetMs);
    while (!done) {
      const started = performance.now();
      const answer = await probeCall<IntrospectResponse>((m, o, cb) => replica.introspect({ token: issued.accessToken }, m, o, cb));
      if (!answer.active) {
        firstInactiveStart = Math.min(firstInactiveStart, started);
        done = true;
      }
    }
  };
  const revoked = probeCall((m, o, cb) => revocation.revokeToken({ requestId: `probe-revoke-${n}-${Date.now()}`, token: issued.accessToken }, m, o, cb)).then(() => {
    acknowledgedAt = performance.now();
  });
  await Promise.all([revoked, ...Array.from({ length: POLLERS }, (_, i) => poller(i * 0.25))]);
  return Math.max(0, firstInactiveStart - acknowledgedAt);
}

interface LayoutRun {
  readonly replica: Replica;
  readonly introspection: IntrospectionServiceClient;
  readonly load: LoadGenerator;
  rate: number;
  peak: number;
  readonly windows: number[][];
  readonly measured: MeasuredRun[];
}

const sortedOf = (values: readonly number[]): Float64Array => Float64Array.from(values).sort();

/**
 * Revocation visibility across processes: a command process (all roles) and replicas of the read
 * side on one nats-server, in both layouts the README documents. Each replica gets introspection
 * load paced at half of its measured closed-loop peak; meanwhile probes revoke tokens through the
 * command process and time how long the replica, asked without min_sequence, still calls them
 * active. The layouts alternate round by round, so a drift in the machine's load hits both.
 */
export const revocationVisibility: Benchmark = {
  name: "revocation-visibility",
  title: "Revocation visible on another replica process (no min_sequence), under half of peak introspection load",
  async run(options: BenchOptions): Promise<BenchResult> {
    const tokenCount = options.size ?? (options.smoke ? 200 : 10_000);
    const grants = options.smoke ? 8 : 100;
    const shared = { GL_TOKEN_HASH_KEY: randomBytes(32).toString("base64"), GL_REQUEST_KEY: `r1:${randomBytes(32).toString("base64")}`, GL_METRICS_PORT: "0" };
    options.log(`revocation-visibility: starting nats-server, the command process and the replicas; issuing ${tokenCount} tokens`);
    const primary = await startLedgerUnderTest({ cpuProfDir: options.cpuProfDir, env: shared });
    const creds = credentials.createInsecure();
    const tokens = new TokenServiceClient(primary.address, creds);
    const revocation = new RevocationServiceClient(primary.address, creds);
    // The same probe against the command process's own read model (no load on it): the floor.
    const primaryIntrospection = new IntrospectionServiceClient(primary.address, creds);
    const layouts: LayoutRun[] = [];
    try {
      const { seeded, tokensFile } = await seedTokensFile(primary, grants, tokenCount);
      const warmupMs = options.warmupS * 1000;
      const durationMs = options.durationS * 1000;
      for (const layout of ["own copy", "shared file"] as const) {
        const replica = await startReplica(layout, primary.nats.url, shared);
        const introspection = new IntrospectionServiceClient(replica.address, creds);
        const load = await startLoadGenerator({ kind: "grpc-introspect", address: replica.address, channels: CHANNELS, tokensFile });
        layouts.push({ replica, introspection, load, rate: 0, peak: 0, windows: [], measured: [] });
      }
      for (const l of layouts) {
        const peak = await l.load.run({ concurrency: CONCURRENCY, warmupMs, durationMs: Math.max(1_000, durationMs / 2) }, l.replica.pids);
        l.peak = peak.throughput;
        l.rate = Math.max(50, Math.round(peak.throughput / 2));
        options.log(`  ${l.replica.layout}: peak ${peak.throughput.toFixed(0)} introspections/s; probing under ${l.rate}/s`);
      }

      const local: number[] = [];
      const probeGrant = seeded.grantIds[0] as string;
      let n = 0;
      for (let round = 0; round < options.runs; round++) {
        for (const l of round % 2 === 0 ? layouts : [...layouts].reverse()) {
          const running = l.load.run({ concurrency: CONCURRENCY, warmupMs, durationMs, ratePerSecond: l.rate }, l.replica.pids);
          await sleep(warmupMs);
          const until = performance.now() + durationMs - 200;
          const mine: number[] = [];
          while (performance.now() < until) {
            n++;
            if (n % 8 === 0) local.push(await probe(tokens, revocation, primaryIntrospection, probeGrant, n));
            else mine.push(await probe(tokens, revocation, l.introspection, probeGrant, n));
          }
          const run = await running;
          if (run.errors + run.wrong > run.ops / 100) throw new Error(`background load: ${run.errors} errors, ${run.wrong} wrong of ${run.ops} (${run.firstError ?? ""})`);
          l.measured.push(run);
          l.windows.push(mine);
          const sorted = sortedOf(mine);
          options.log(
            `  round ${round + 1}/${options.runs} ${l.replica.layout}: ${mine.length} revocations, visible after p50 ${quantile(sorted, 0.5).toFixed(2)} ms, ` +
              `p99 ${quantile(sorted, 0.99).toFixed(2)} ms, max ${(sorted[sorted.length - 1] ?? 0).toFixed(2)} ms; load ${run.throughput.toFixed(0)}/s`,
          );
        }
      }

      const sides: SideSummary[] = [];
      const ratios: Ratio[] = [];
      for (const l of layouts) {
        const perRun = (q: number): number[] => l.windows.map((w) => quantile(sortedOf(w), q));
        sides.push({
          label: `revocation → inactive, replica (${l.replica.layout})`,
          metrics: { "probes per run": spread(l.windows.map((w) => w.length)), "p50 (ms)": spread(perRun(0.5)), "p99 (ms)": spread(perRun(0.99)), "max (ms)": spread(perRun(1)) },
        });
        const background = summarize(`background introspection, replica (${l.replica.layout})`, l.measured);
        sides.push(background);
        const all = sortedOf(l.windows.flat());
        ratios.push(
          atMost(`p99 ms, revocation acknowledged → inactive, replica (${l.replica.layout}), all probes`, quantile(all, 0.99), 10),
          { name: `p50 ms, replica (${l.replica.layout})`, value: quantile(all, 0.5) },
          { name: `max ms, replica (${l.replica.layout})`, value: all[all.length - 1] ?? 0 },
          { name: `background load achieved ÷ paced rate, replica (${l.replica.layout})`, value: (background.metrics[THROUGHPUT]?.median ?? 0) / l.rate },
        );
      }
      const own = sortedOf(local);
      ratios.push({ name: "p99 ms, the same probe on the command process's own read model (no load on it)", value: quantile(own, 0.99) });
      return {
        name: "revocation-visibility",
        title: this.title,
        date: new Date().toISOString(),
        options: { runs: options.runs, durationS: options.durationS, warmupS: options.warmupS, smoke: options.smoke },
        config: {
          tokens: tokenCount,
          ...Object.fromEntries(layouts.flatMap((l) => [[`peak req/s, ${l.replica.layout}`, Math.round(l.peak)], [`paced req/s, ${l.replica.layout}`, l.rate]])),
          pollers: POLLERS,
        },
        sides,
        ratios,
        notes: [
          "Window: from RevokeToken's acknowledgement (on the command process) to the start of the first Introspect without min_sequence that the replica answered inactive; 4 pollers staggered by 0.25 ms; 0 when it was inactive before the acknowledgement arrived.",
          "Replica layouts as in the README: own copy = one `introspection,projector` process with its own SQLite file; shared file = a `projector` process and an `introspection` process over one file. Background load on each: paced at half its closed-loop peak (100 in flight).",
          `Background p99 request latency / server CPU per op: ${layouts
            .map((l) => {
              const b = summarize("", l.measured);
              return `${l.replica.layout} ${(b.metrics[P99]?.median ?? 0).toFixed(2)} ms / ${(b.metrics[CPU]?.median ?? 0).toFixed(0)} µs`;
            })
            .join("; ")}.`,
        ],
        raw: { layouts: layouts.map((l) => ({ layout: l.replica.layout, peak: l.peak, rate: l.rate, windows: l.windows, runs: l.measured })), local },
      };
    } finally {
      tokens.close();
      revocation.close();
      primaryIntrospection.close();
      for (const l of layouts) {
        l.introspection.close();
        await l.load.close();
        await l.replica.stop();
      }
      await primary.stop();
    }
  },
};
