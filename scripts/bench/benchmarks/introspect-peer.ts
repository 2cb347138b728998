import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { alternate, CPU, med, summarize, THROUGHPUT } from "../lib/ab.js";
import { seedLedger, startLedgerUnderTest } from "../lib/ledger.js";
import { startLoadGenerator } from "../lib/load.js";
import { nodeChildPids, sleep, spawnTsx } from "../lib/proc.js";
import { freePort } from "../../nats-server.js";
import { atLeast, atMost, type Benchmark, type BenchOptions, type BenchResult } from "../lib/types.js";

const CONCURRENCY = 100;
const CHANNELS = 4;
const PEER_CLIENT = { id: "resource-server", secret: "rs-secret-0123456789abcdef0123456789abcdef" };

const GRPC = "ledger Introspect (gRPC)";
const HTTP = "ledger /oauth2/introspect (HTTP)";
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
 * (`--roles http`, served by `GL_HTTP_WORKERS` processes) against node-oidc-provider's (one process,
 * as it ships). Both HTTP sides get HTTP/1.1 POSTs with client_secret_basic, 100 in flight over 100
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
    const peerPort = await freePort();
    const peerTokensFile = join(target.dataDir, "peer-tokens.txt");
    const peer = spawnTsx("scripts/bench/targets/oidc-peer.ts", [String(peerPort), String(tokens), peerTokensFile]);
    const loads = [];
    try {
      const seeded = await seedLedger(target.address, grants, Math.ceil(tokens / 2));
      const tokensFile = join(target.dataDir, "bench-tokens.txt");
      await writeFile(tokensFile, seeded.tokens.slice(0, tokens).join("\n"));
      await peer.waitFor("ready", 120_000);
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
      const theirs = await startLoadGenerator({
        kind: "http-introspect",
        url: `http://127.0.0.1:${peerPort}/token/introspection`,
        clientId: PEER_CLIENT.id,
        clientSecret: PEER_CLIENT.secret,
        tokensFile: peerTokensFile,
        maxSockets: CONCURRENCY,
      });
      loads.push(theirs);
      const run = { concurrency: CONCURRENCY, warmupMs: options.warmupS * 1000, durationMs: options.durationS * 1000 };
      const runs = await alternate(options, [
        { label: GRPC, load: ours, run, watch: { ledger: target.ledger.pid } },
        { label: HTTP, load: oursHttp, run, watch: httpWatch },
        { label: PEER, load: theirs, run, watch: { "oidc-provider": peer.pid } },
      ]);
      const a = summarize(GRPC, runs.get(GRPC) ?? []);
      const h = summarize(HTTP, runs.get(HTTP) ?? []);
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
        sides: [a, h, b],
        ratios: [
          atLeast("req/s, ledger ÷ oidc-provider", med(a, THROUGHPUT) / med(b, THROUGHPUT), 1.5),
          atMost("server CPU/op, ledger ÷ oidc-provider", med(a, CPU) / med(b, CPU), 0.5),
          atLeast("req/s, ledger HTTP ÷ oidc-provider", med(h, THROUGHPUT) / med(b, THROUGHPUT), 3),
          { name: "server CPU/op (all ledger processes), ledger HTTP ÷ oidc-provider", value: med(h, CPU) / med(b, CPU) },
          { name: `req/s per HTTP process (ledger ÷ ${workers}), ledger HTTP ÷ oidc-provider`, value: med(h, THROUGHPUT) / workers / med(b, THROUGHPUT) },
        ],
        notes: [
          workers > 1
            ? `The ledger serves HTTP from ${workers} processes (node:cluster workers sharing the port, round-robin accept; each reads the projector's SQLite file) and oidc-provider from one, as it ships: req/s compares the deployments, server CPU/op (the sum over the ledger's processes, primary included) the cost of a request, and "req/s per HTTP process" divides the ledger's req/s by ${workers}.`
            : "The ledger serves HTTP from its one process, as oidc-provider does.",
          "Load generator: raw net sockets, one request in flight per keep-alive socket, each token's request encoded once; every answer's status and `active` checked, every 16th parsed as JSON (scripts/bench/lib/raw-http.ts). Its CPU/op is the column above; it shares the 2 cores with the servers.",
          "Both HTTP sides authenticate the resource server with client_secret_basic on every request; the ledger verifies its secret with scrypt once and then remembers the verification (services/http/caller.ts).",
          "oidc-provider runs with an unbounded in-memory adapter (its default is an LRU of 1000 entries); each token is saved under a Grant, so its introspection loads token, grant and client.",
        ],
        raw: Object.fromEntries(runs),
      };
    } finally {
      for (const load of loads) await load.close();
      await peer.stop();
      await target.stop();
    }
  },
};
