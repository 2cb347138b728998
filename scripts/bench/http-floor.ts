/**
 * What a request costs node:http itself on this machine, with the benchmarks' raw-socket client
 * and, for comparison, node:http's client: a no-op server answering an introspection-sized JSON,
 * optionally burning `busy-us` of CPU per request to run at a CPU-bound server's rate.
 *
 * `node --import tsx scripts/bench/http-floor.ts [busy-us] [runs]` (the server is this file run as
 * `serve <port> <busy-us>` in its own process). Prints req/s and CPU/op of server and client.
 */
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLoadGenerator } from "./lib/load.js";
import { spawnTsx } from "./lib/proc.js";
import { freePort } from "../nats-server.js";

const BODY = JSON.stringify({ active: true, scope: "zone:read dns:read", client_id: "cl_x", sub: "user-1", exp: 1, iat: 1, iss: "http://127.0.0.1", jti: "tk_x", token_type: "Bearer" });

function serve(port: number, busyUs: number): void {
  createServer((req, res) => {
    req.on("data", () => undefined);
    req.on("end", () => {
      const until = performance.now() + busyUs / 1000;
      while (performance.now() < until); // stands in for a real endpoint's work
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "content-length": Buffer.byteLength(BODY) });
      res.end(BODY);
    });
  }).listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));
}

async function measure(busyUs: number, runs: number): Promise<void> {
  const port = await freePort();
  const server = spawnTsx("scripts/bench/http-floor.ts", ["serve", String(port), String(busyUs)]);
  await server.waitFor("ready");
  const tokensFile = join(tmpdir(), `http-floor-${process.pid}.txt`);
  writeFileSync(tokensFile, Array.from({ length: 1000 }, (_, i) => `gla_${i}`).join("\n"));
  for (const client of ["raw", "node:http"] as const) {
    const load = await startLoadGenerator({ kind: "http-introspect", url: `http://127.0.0.1:${port}/`, clientId: "a", clientSecret: "b", tokensFile, maxSockets: 100, client });
    for (let i = 0; i < runs; i++) {
      const r = await load.run({ concurrency: 100, warmupMs: 1000, durationMs: 5000 }, { server: server.pid });
      process.stdout.write(
        `${client}: ${Math.round(r.throughput)} req/s, server ${(r.cpuUsPerOp["server"] ?? 0).toFixed(1)} µs/op, ` +
          `client ${r.loadGeneratorCpuUsPerOp.toFixed(1)} µs/op, ${r.errors + r.wrong} bad\n`,
      );
    }
    await load.close();
  }
  await server.stop();
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === "serve") serve(Number(rest[0]), Number(rest[1] ?? 0));
else await measure(Number(mode ?? 0), Number(rest[0] ?? 2)).then(() => process.exit(0));
