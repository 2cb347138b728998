import { alternate, CPU, med, summarize, THROUGHPUT } from "../lib/ab.js";
import { seedTokensFile, startHttpProcess, startLedgerUnderTest } from "../lib/ledger.js";
import { startLoadGenerator } from "../lib/load.js";
import { startOidcPeer } from "../lib/oidc-peer.js";
import { nodeChildPids, sleep, type Child } from "../lib/proc.js";
import { freePort } from "../../nats-server.js";
import { atLeast, atMost, type Benchmark, type BenchOptions, type BenchResult } from "../lib/types.js";

const CONCURRENCY = 100;
const CHANNELS = 4;

const GRPC = "ledger Introspect (gRPC)";
const HTTP = "ledger /oauth2/introspect (HTTP)";
const HTTP_ONE = "ledger /oauth2/introspect (HTTP, 1 process)";
const PEER = "oidc-provider introspection (HTTP)";

/** Waits until the ledger has forked its HTTP workers; returns their pids. */
async function httpWorkerPids(ledgerPid: number, count: number): Promise<number[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const pids = nodeChildPids(ledgerPid);
    if (pids.length >= count) return pids;
    if (Date.now() > deadline) throw new Error(`the ledger forked ${pids.length} of ${count} HTTP workers within 60 s`);
    await sleep(50);
  }
}

/**
 * Introspect (unary gRPC, 100 in flight over 4 channels) and the ledger's own RFC 7662 endpoint
 * (`--roles http`, served by `GL_HTTP_WORKERS` processes, and by one `--roles http` process on the
 * same data dir for the per-process comparison) against node-oidc-provider's (one process, as it
 * ships). Both HTTP sides get HTTP/1.1 POSTs with client_secret_basic, 100 in flight over 100
 * keep-alive sockets, from the same load generator (raw sockets, scripts/bench/lib/raw-http.ts); the
 * same number of tokens on every side, each request picking one at random.
 */
export const introspectPeer: Benchmark = {
  name: "introspect-peer",
  title: "Introspect (gRPC and HTTP) vs node-oidc-provider's introspection endpoint",
  async run(options: BenchOptions): Promise<BenchResult> {
    const tokens = options.size ?? (options.smoke ? 200 : 10_000);
    const grants = options.smoke ? 8 : 100;
    const workers = options.httpWorkers ?? 2;
    options.log(`introspect-peer: starting nats-server, the ledger (${workers} HTTP process(es)) and oidc-provider with ${tokens} tokens each`);
    const httpPort = await freePort();
    const target = await startLedgerUnderTest({
      cpuProfDir: options.cpuProfDir,
      env: { GL_ROLES: "commands,introspection,projector,checkpointer,http", GL_HTTP_PORT: String(httpPort), GL_HTTP_WORKERS: String(workers) },
    });
    // The HTTP side's server CPU is every ledger process: the primary (projector, staleness checks)
    // and its HTTP workers; with one worker the primary serves HTTP itself.
    const httpWatch: Record<string, number> = { ledger: target.ledger.pid };
    if (workers > 1) {
      const pids = await httpWorkerPids(target.ledger.pid, workers).catch(async (error: unknown) => {
        await target.stop();
        throw error;
      });
      pids.forEach((pid, i) => (httpWatch[`HTTP worker ${i + 1}`] = pid));
    }
    // The same endpoint from one process (when the main side has workers), reading the same file.
    const singlePort = await freePort();
    let single: Child | undefined;
    if (workers > 1) {
      single = await startHttpProcess(target, singlePort, options.cpuProfDir).catch(async (error: unknown) => {
        await target.stop();
        throw error;
      });
    }
    const peer = await startOidcPeer(target.dataDir, tokens);
    const loads = [];
    try {
      const { seeded, tokensFile } = await seedTokensFile(target, grants, tokens);
      await peer.ready();
      const ours = await startLoadGenerator({ kind: "grpc-introspect", address: target.address, channels: CHANNELS, tokensFile });
      loads.push(ours);
      const oursHttp = await startLoadGenerator({
        kind: "http-introspect",
        url: `http://127.0.0.1:${httpPort}/oauth2/introspect`,
        clientId: seeded.clientId,
        clientSecret: seeded.clientSecret,
        tokensFile,
        maxSockets: CONCURRENCY,
      });
      loads.push(oursHttp);
      const oursSingle =
        single === undefined
          ? undefined
          : await startLoadGenerator({
              kind: "http-introspect",
              url: `http://127.0.0.1:${singlePort}/oauth2/introspect`,
              clientId: seeded.clientId,
              clientSecret: seeded.clientSecret,
              tokensFile,
              maxSockets: CONCURRENCY,
            });
      if (oursSingle !== undefined) loads.push(oursSingle);
      const theirs = await startLoadGenerator(peer.load(CONCURRENCY));
      loads.push(theirs);
      const run = { concurrency: CONCURRENCY, warmupMs: options.warmupS * 1000, durationMs: options.durationS * 1000 };
      const runs = await alternate(options, [
        { label: GRPC, load: ours, run, watch: { ledger: target.ledger.pid } },
        { label: HTTP, load: oursHttp, run, watch: httpWatch },
        // The primary counts here too (it holds the projector either way).
        ...(oursSingle === undefined || single === undefined
          ? []
          : [{ label: HTTP_ONE, load: oursSingle, run, watch: { ledger: target.ledger.pid, "HTTP process": single.pid } }]),
        { label: PEER, load: theirs, run, watch: { "oidc-provider": peer.child.pid } },
      ]);
      const a = summarize(GRPC, runs.get(GRPC) ?? []);
      const h = summarize(HTTP, runs.get(HTTP) ?? []);
      const one = runs.has(HTTP_ONE) ? summarize(HTTP_ONE, runs.get(HTTP_ONE) ?? []) : undefined;
      const b = summarize(PEER, runs.get(PEER) ?? []);
      return {
        name: "introspect-peer",
        title: this.title,
        date: new Date().toISOString(),
        options: { runs: options.runs, durationS: options.durationS, warmupS: options.warmupS, smoke: options.smoke },
        config: {
          tokens,
          grants,
          concurrency: CONCURRENCY,
          channels: `${CHANNELS} gRPC / ${CONCURRENCY} HTTP keep-alive sockets`,
          "ledger HTTP processes": workers > 1 ? `${workers} workers (GL_HTTP_WORKERS) + the primary` : "1 (the ledger itself)",
          "oidc-provider processes": 1,
        },
        sides: one === undefined ? [a, h, b] : [a, h, one, b],
        ratios: [
          atLeast("req/s, ledger ÷ oidc-provider", med(a, THROUGHPUT) / med(b, THROUGHPUT), 1.5),
          atMost("server CPU/op, ledger ÷ oidc-provider", med(a, CPU) / med(b, CPU), 0.5),
          atLeast("req/s, ledger HTTP ÷ oidc-provider", med(h, THROUGHPUT) / med(b, THROUGHPUT), 3),
          { name: "server CPU/op (all ledger processes), ledger HTTP ÷ oidc-provider", value: med(h, CPU) / med(b, CPU) },
          ...(one === undefined
            ? []
            : [
                { name: "req/s, ledger HTTP in 1 process ÷ oidc-provider", value: med(one, THROUGHPUT) / med(b, THROUGHPUT) },
                { name: "server CPU/op, ledger HTTP in 1 process ÷ oidc-provider", value: med(one, CPU) / med(b, CPU) },
              ]),
        ],
        notes: [
          workers > 1
            ? `"ledger /oauth2/introspect (HTTP)" is served by ${workers} processes (GL_HTTP_WORKERS: node:cluster workers sharing the port, round-robin accept, each reading the projector's SQLite file); oidc-provider by one, as it ships. Its server CPU/op is the sum over the ledger's processes (primary included) per request. "(HTTP, 1 process)" is the same endpoint from one \`serve --roles http\` process on the same data dir (plus the primary's CPU), for the per-process comparison.`
            : "The ledger serves HTTP from its one process, as oidc-provider does.",
          "Per-process columns (ledger = the primary, HTTP worker i, HTTP process) are each process's CPU ÷ all of the side's requests: they add up to server CPU/op.",
          "Load generator: raw net sockets, one request in flight per keep-alive socket, each token's request encoded once; every answer's status and `active` checked, every 16th parsed as JSON (scripts/bench/lib/raw-http.ts). Its CPU/op is the column above; it shares the 2 cores with the servers.",
          "Both HTTP sides authenticate the resource server with client_secret_basic on every request; the ledger verifies its secret with scrypt once and then remembers the verification (services/http/caller.ts).",
          "oidc-provider runs with an unbounded in-memory adapter (its default is an LRU of 1000 entries); each token is saved under a Grant, so its introspection loads token, grant and client.",
        ],
        raw: Object.fromEntries(runs),
      };
    } finally {
      for (const load of loads) await load.close();
      await peer.child.stop();
      await single?.stop();
      await target.stop();
    }
  },
};
