/**
 * `npm run bench -- <name|all> [--runs N] [--duration S] [--warmup S] [--size N] [--http-workers N] [--smoke]
 *   [--cpu-prof] [--out-dir D] [--no-report]`
 *
 * Runs benchmarks of issue 8, writes `<out-dir>/<name>-<timestamp>.json` (default bench/results) and
 * regenerates BENCHMARKS.md (unless --no-report or --smoke).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { catchup } from "./benchmarks/catchup.js";
import { durability } from "./benchmarks/durability.js";
import { grantSize } from "./benchmarks/grant-size.js";
import { introspect } from "./benchmarks/introspect.js";
import { introspectBatch } from "./benchmarks/introspect-batch.js";
import { introspectPeer } from "./benchmarks/introspect-peer.js";
import { growth } from "./benchmarks/growth.js";
import { issue } from "./benchmarks/issue.js";
import { revocationVisibility } from "./benchmarks/revocation-visibility.js";
import { storage } from "./benchmarks/storage.js";
import { repoRoot } from "./lib/proc.js";
import { environment, latestResults, writeReport, type StoredResult } from "./lib/report.js";
import type { Benchmark, BenchOptions } from "./lib/types.js";

const BENCHMARKS: readonly Benchmark[] = [introspect, introspectPeer, introspectBatch, issue, catchup, storage, durability, revocationVisibility, growth, grantSize];

const USAGE = `npm run bench -- <name|all> [options]

Benchmarks: ${BENCHMARKS.map((b) => b.name).join(", ")}
"report" regenerates BENCHMARKS.md from the latest results without running anything.

Options:
  --runs N        runs per side, median over them (default 5; 1 with --smoke)
  --duration S    measured seconds per run (default 5; 1 with --smoke)
  --warmup S      warm-up seconds before each run (default 1; 0.3 with --smoke)
  --size N        tokens (introspect*, storage, grant-size), events (catchup); each has a default
  --http-workers N  GL_HTTP_WORKERS of the ledger in introspect-peer (default 2)
  --smoke         tiny sizes and one short run: checks the harness, not the numbers
  --cpu-prof      write V8 CPU profiles of the ledger process to <out-dir>/profiles
  --out-dir D     where result JSON goes (default bench/results)
  --no-report     do not regenerate BENCHMARKS.md (implied by --smoke)
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      runs: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      size: { type: "string" },
      "http-workers": { type: "string" },
      smoke: { type: "boolean", default: false },
      "cpu-prof": { type: "boolean", default: false },
      "out-dir": { type: "string" },
      "no-report": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [which] = positionals;
  if (which === "report") {
    const markdown = join(repoRoot, "BENCHMARKS.md");
    writeReport(latestResults(resolve(values["out-dir"] ?? join(repoRoot, "bench/results")), markdown), markdown, join(repoRoot, "scripts/bench/findings.md"));
    return 0;
  }
  if (values.help || which === undefined) {
    process.stdout.write(USAGE);
    return which === undefined && !values.help ? 2 : 0;
  }
  const selected = which === "all" ? BENCHMARKS : BENCHMARKS.filter((b) => b.name === which);
  if (selected.length === 0) {
    process.stderr.write(`unknown benchmark "${which}"\n\n${USAGE}`);
    return 2;
  }
  const number = (text: string | undefined, fallback: number, name: string): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  const smoke = values.smoke;
  const outDir = resolve(values["out-dir"] ?? join(repoRoot, "bench/results"));
  mkdirSync(outDir, { recursive: true });
  const cpuProfDir = values["cpu-prof"] ? join(outDir, "profiles") : undefined;
  if (cpuProfDir !== undefined) mkdirSync(cpuProfDir, { recursive: true });
  const options: BenchOptions = {
    runs: Math.round(number(values.runs, smoke ? 1 : 5, "runs")),
    durationS: number(values.duration, smoke ? 1 : 5, "duration"),
    warmupS: number(values.warmup, smoke ? 0.3 : 1, "warmup"),
    smoke,
    size: values.size === undefined ? undefined : Math.round(number(values.size, 1, "size")),
    cpuProfDir,
    httpWorkers: values["http-workers"] === undefined ? undefined : Math.round(number(values["http-workers"], 1, "http-workers")),
    log: (line) => process.stderr.write(`${line}\n`),
  };
  const env = await environment();
  const written: string[] = [];
  for (const benchmark of selected) {
    const started = Date.now();
    const result = await benchmark.run(options);
    const stored: StoredResult = { ...result, environment: env };
    const file = join(outDir, `${benchmark.name}-${result.date.replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, `${JSON.stringify(stored, null, 2)}\n`);
    written.push(file);
    options.log(`${benchmark.name}: done in ${((Date.now() - started) / 1000).toFixed(1)} s → ${file}`);
    for (const ratio of result.ratios) {
      options.log(`  ${ratio.name}: ${ratio.value.toFixed(3)}${ratio.target === undefined ? "" : ` (target ${ratio.target}: ${ratio.met === true ? "met" : "missed"})`}`);
    }
  }
  if (!smoke && !values["no-report"]) {
    const markdown = join(repoRoot, "BENCHMARKS.md");
    writeReport(latestResults(outDir, markdown), markdown, join(repoRoot, "scripts/bench/findings.md"));
    options.log(`BENCHMARKS.md regenerated`);
  }
  process.stdout.write(`${JSON.stringify({ results: written })}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
