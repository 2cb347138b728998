/**
 * `npm run faults -- [--minutes N] [--workers W]`: the long mode of the cluster fault test
 * (test/fault/cluster-history.test.ts). It injects the same faults round after round for N minutes
 * (default 10) under a load from W client processes (default 3), then checks the whole history.
 * The suite runs the same test for one minute. Output (what was injected, operations, violations)
 * is printed and kept in bench/results/faults-<date>.log. Exit code: vitest's.
 */
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repoRoot = resolve(fileURLToPath(new URL("..", import.meta.url)));
const { values } = parseArgs({ options: { minutes: { type: "string", default: "10" }, workers: { type: "string", default: "3" } }, strict: true });
const minutes = Number(values.minutes);
const workers = Number(values.workers);
if (!(minutes > 0) || !Number.isInteger(workers) || workers < 1) {
  process.stderr.write("usage: npm run faults -- [--minutes N] [--workers W]\n");
  process.exit(2);
}
mkdirSync(join(repoRoot, "bench/results"), { recursive: true });
const file = join(repoRoot, "bench/results", `faults-${new Date().toISOString().replaceAll(":", "-")}.log`);
const out = createWriteStream(file);
const child = spawn(join(repoRoot, "node_modules/.bin/vitest"), ["run", "test/fault/cluster-history.test.ts"], {
  cwd: repoRoot,
  env: { ...process.env, GL_FAULT_SECONDS: String(Math.round(minutes * 60)), GL_FAULT_WORKERS: String(workers), FORCE_COLOR: "0" },
  stdio: ["ignore", "pipe", "pipe"],
});
for (const stream of [child.stdout, child.stderr]) {
  stream.on("data", (chunk: Buffer) => {
    process.stdout.write(chunk);
    out.write(chunk);
  });
}
child.on("exit", (code) => {
  out.end();
  process.stdout.write(`\nlog kept in ${file}\n`);
  process.exit(code ?? 1);
});
