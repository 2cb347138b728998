import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { alternate, CPU, med, summarize, THROUGHPUT } from "../lib/ab.js";
import { seedLedger, startLedgerUnderTest } from "../lib/ledger.js";
import { startLoadGenerator } from "../lib/load.js";
import { spawnTsx } from "../lib/proc.js";
import { freePort } from "../../nats-server.js";
import { atLeast, atMost, type Benchmark, type BenchOptions, type BenchResult } from "../lib/types.js";

const CONCURRENCY = 100;
const CHANNELS = 4;
const PEER_CLIENT = { id: "resource-server", secret: "rs-secret-0123456789abcdef0123456789abcdef" };

/**
 * Introspect (unary gRPC, 100 in flight over 4 channels) against node-oidc-provider's RFC 7662
 * endpoint (HTTP/1.1 POST with client_secret_basic, 100 in flight over 100 keep-alive sockets), the
 * same number of tokens on both sides, each request picking one at random.
 */
export const introspectPeer: Benchmark = {
  name: "introspect-peer",
  title: "Introspect vs node-oidc-provider's introspection endpoint",
  async run(options: BenchOptions): Promise<BenchResult> {
    const tokens = options.size ?? (options.smoke ? 200 : 10_000);
    const grants = options.smoke ? 8 : 100;
    options.log(`introspect-peer: starting nats-server, the ledger and oidc-provider with ${tokens} tokens each`);
    const target = await startLedgerUnderTest({ cpuProfDir: options.cpuProfDir });
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
        { label: "ledger Introspect (gRPC)", load: ours, run, watch: { ledger: target.ledger.pid } },
        { label: "oidc-provider introspection (HTTP)", load: theirs, run, watch: { "oidc-provider": peer.pid } },
      ]);
      const a = summarize("ledger Introspect (gRPC)", runs.get("ledger Introspect (gRPC)") ?? []);
      const b = summarize("oidc-provider introspection (HTTP)", runs.get("oidc-provider introspection (HTTP)") ?? []);
      return {
        name: "introspect-peer",
        title: this.title,
        date: new Date().toISOString(),
        options: { runs: options.runs, durationS: options.durationS, warmupS: options.warmupS, smoke: options.smoke },
        config: { tokens, grants, concurrency: CONCURRENCY, channels: `${CHANNELS} gRPC / ${CONCURRENCY} HTTP keep-alive sockets` },
        sides: [a, b],
        ratios: [
          atLeast("req/s, ledger ÷ oidc-provider", med(a, THROUGHPUT) / med(b, THROUGHPUT), 1.5),
          atMost("server CPU/op, ledger ÷ oidc-provider", med(a, CPU) / med(b, CPU), 0.5),
        ],
        notes: [
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
