import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { natsServerBinary } from "../../nats-server.js";
import { repoRoot } from "./proc.js";
import type { BenchResult } from "./types.js";

export interface Environment {
  /** The code measured: a commit, "+ uncommitted changes" when services/ or projections/ differ from it. */
  readonly commit: string;
  readonly machine: { cores: number; cpuModel: string; memoryGiB: number; kernel: string; loadAvg1m: number };
  readonly versions: Readonly<Record<string, string>>;
}

const require = createRequire(import.meta.url);

const packageVersion = (name: string): string => {
  try {
    const file = join(repoRoot, "node_modules", name, "package.json");
    return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
};

export async function environment(): Promise<Environment> {
  let nats = "?";
  try {
    nats = execFileSync(await natsServerBinary(), ["--version"], { encoding: "utf8" }).trim().replace(/^nats-server:\s*/, "");
  } catch {
    // reported as "?"
  }
  let sqlite = "?";
  try {
    const Database = require("better-sqlite3") as new (file: string) => { prepare(sql: string): { pluck(): { get(): unknown } }; close(): void };
    const db = new Database(":memory:");
    sqlite = String(db.prepare("select sqlite_version()").pluck().get());
    db.close();
  } catch {
    // reported as "?"
  }
  let commit = process.env["GL_BENCH_COMMIT"] ?? "";
  if (commit === "") {
    try {
      const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).trim();
      const dirty = execFileSync("git", ["status", "--porcelain", "--", "services", "projections", "scripts/cli.ts", "scripts/cli"], {
        cwd: repoRoot,
        encoding: "utf8",
      }).trim();
      commit = dirty === "" ? sha : `${sha} + uncommitted changes`;
    } catch {
      commit = "?";
    }
  }
  return {
    commit,
    machine: {
      cores: cpus().length,
      cpuModel: cpus()[0]?.model ?? "?",
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      kernel: release(),
      loadAvg1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    },
    versions: {
      node: process.version,
      "nats-server": nats,
      "@grpc/grpc-js": packageVersion("@grpc/grpc-js"),
      "@nats-io/jetstream": packageVersion("@nats-io/jetstream"),
      "better-sqlite3": packageVersion("better-sqlite3"),
      sqlite,
      "oidc-provider": packageVersion("oidc-provider"),
    },
  };
}

/** A result as stored in BENCHMARKS.md and in bench/results: the run, the machine, the versions. */
export type StoredResult = BenchResult & { readonly environment: Environment };

const DATA_OPEN = "<!-- bench-data";
const DATA_CLOSE = "bench-data -->";

/** The latest result per benchmark: the JSON files in `resultsDir`, else what BENCHMARKS.md embeds. */
export function latestResults(resultsDir: string, markdownFile: string): Map<string, StoredResult> {
  const latest = new Map<string, StoredResult>();
  if (existsSync(markdownFile)) {
    const text = readFileSync(markdownFile, "utf8");
    const start = text.indexOf(DATA_OPEN);
    const end = text.indexOf(DATA_CLOSE);
    if (start >= 0 && end > start) {
      const embedded = JSON.parse(text.slice(start + DATA_OPEN.length, end)) as StoredResult[];
      for (const r of embedded) latest.set(r.name, r);
    }
  }
  if (existsSync(resultsDir)) {
    for (const file of readdirSync(resultsDir).filter((f) => f.endsWith(".json")).sort()) {
      const r = JSON.parse(readFileSync(join(resultsDir, file), "utf8")) as StoredResult;
      if (r.options.smoke) continue;
      const known = latest.get(r.name);
      if (known === undefined || known.date <= r.date) latest.set(r.name, r);
    }
  }
  return latest;
}

const fmt = (v: number): string => {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
};

/** The benchmarks the issue lists, in its order; those without a result show as not yet measured. */
export const PLANNED: ReadonlyArray<{ name: string; path: string; target: string }> = [
  { name: "introspect", path: "Introspect (unary gRPC), 100 in flight over 4 channels, vs a no-op grpc-js handler", target: "throughput ≥ 0.85×, server CPU/op ≤ 1.2×, p99 ≤ 1.5×" },
  {
    name: "introspect-peer",
    path: "Introspect (gRPC) and /oauth2/introspect (HTTP) vs node-oidc-provider's introspection endpoint",
    target: "gRPC ≥ 1.5× req/s, ≤ 0.5× server CPU/op; HTTP ≥ 3× req/s",
  },
  {
    name: "introspect-batch",
    path: "Batch introspection for gateways (IntrospectBatch, 100 tokens per call, 8 calls in flight) vs the same peer, one token per request",
    target: "≥ 5× introspections/s",
  },
  { name: "issue", path: "IssueTokens, 256 in flight, vs raw JetStream publish (msgID + expected last subject sequence)", target: "≥ 0.5×" },
  { name: "catchup", path: "Projection catch-up vs raw ordered read and raw SQLite inserts", target: "≥ 0.7× the slower; RSS ≤ 300 MB" },
  { name: "revocation-visibility", path: "Revocation visible on another replica process (no min_sequence)", target: "p99 ≤ 10 ms under half of peak load" },
  { name: "growth", path: "Introspection at 10k, 1M, 10M live tokens", target: "CPU/op and p50 ≤ 1.5× at 10M" },
  { name: "storage", path: "Bytes per event in the log, per live token in SQLite", target: "≤ 400 B/event, ≤ 200 B/token" },
];

function section(r: StoredResult): string {
  const out: string[] = [];
  out.push(`### ${r.name}: ${r.title}`, "");
  out.push(
    `${r.date.slice(0, 16).replace("T", " ")} UTC · ${r.options.runs} run(s) per side` +
      (r.options.durationS > 0 ? ` × ${r.options.durationS} s (after ${r.options.warmupS} s warm-up)` : "") +
      `${r.options.runs > 1 ? ", alternating order" : ""} · load average when the run started ${r.environment.machine.loadAvg1m} · ` +
      Object.entries(r.config)
        .map(([k, v]) => `${k} ${typeof v === "number" ? fmt(v) : v}`)
        .join(", "),
    "",
  );
  const metrics = [...new Set(r.sides.flatMap((s) => Object.keys(s.metrics)))];
  if (metrics.length > 0) {
    out.push(`| | ${metrics.join(" | ")} |`, `|---|${metrics.map(() => "---").join("|")}|`);
    for (const side of r.sides) {
      const cells = metrics.map((m) => {
        const s = side.metrics[m];
        if (s === undefined) return "";
        return s.runs.length > 1 ? `**${fmt(s.median)}** (${fmt(s.min)}–${fmt(s.max)})` : `**${fmt(s.median)}**`;
      });
      out.push(`| ${side.label} | ${cells.join(" | ")} |`);
    }
    out.push("", "Medians in bold, min–max over the runs in parentheses.", "");
  }
  if (r.ratios.length > 0) {
    out.push("| ratio | measured | target | |", "|---|---|---|---|");
    for (const ratio of r.ratios) {
      const verdict = ratio.met === undefined ? "" : ratio.met ? "met" : "**missed**";
      out.push(`| ${ratio.name} | ${fmt(ratio.value)} | ${ratio.target ?? ""} | ${verdict} |`);
    }
    out.push("");
  }
  for (const note of r.notes) out.push(`- ${note}`);
  if (r.notes.length > 0) out.push("");
  return out.join("\n");
}

/** Regenerates BENCHMARKS.md from the latest results plus the hand-written findings. */
export function writeReport(results: Map<string, StoredResult>, markdownFile: string, findingsFile: string): void {
  const all = [...results.values()];
  const env = [...all].sort((a, b) => b.date.localeCompare(a.date))[0]?.environment;
  const lines: string[] = [];
  lines.push(
    "# Benchmarks",
    "",
    "Generated by `npm run bench` (scripts/bench); do not edit by hand — the findings section comes from",
    "`scripts/bench/findings.md`. Issue 8 defines the benchmarks and their targets.",
    "",
    "**Read the ratios, not the absolute numbers.** The machine is small (2 cores shared by the load",
    "generator, the server under test and nats-server) and was shared with other engineers' test runs",
    "while these figures were taken, so absolute throughput moves from run to run. Every target is a ratio",
    "measured side by side in one run: A and B alternate (A B, B A, ...) and each figure is the median of",
    "the runs; server CPU per operation (user + system time of the server process(es) from",
    "`/proc/<pid>/stat` over the measured window ÷ operations) is steadier than wall throughput.",
    "",
    "## How to reproduce",
    "",
    "```sh",
    "npm run bench -- all                       # every benchmark, 5 runs × 5 s per side",
    "npm run bench -- introspect --runs 7 --duration 10",
    "npm run bench -- catchup --size 10000000   # the issue's 10M events (default is small)",
    "npm run bench -- report                    # regenerate this file from bench/results without running anything",
    "# profile the ledger (a separate out-dir keeps a 1-run profile out of this report):",
    "npm run bench -- issue --cpu-prof --runs 1 --duration 10 --out-dir /tmp/prof --no-report",
    "node --import tsx scripts/bench/profile-top.ts /tmp/prof/profiles/CPU.*.0.001.cpuprofile 40 23",
    "npm run bench -- all --smoke               # tiny sizes, 1 run: checks the harness only",
    "```",
    "",
    "Each benchmark starts what it needs: a nats-server (scripts/nats-server.ts) on a temp store, the",
    "ledger as its own process (`node dist/scripts/cli.js serve`, the build `npm start` runs, LOG_LEVEL=warn), the baseline",
    "or peer as its own process, and a separate load-generator process (scripts/bench/lib/loadgen.ts)",
    "with a closed loop of N requests in flight over 127.0.0.1. Results go to",
    "`bench/results/<name>-<timestamp>.json` (git-ignored) and this file is regenerated from the latest",
    "result of each benchmark (also embedded below, so a partial re-run keeps the other rows).",
    "",
  );
  if (env !== undefined) {
    lines.push(
      "## Machine and versions",
      "",
      `- code measured: ${env.commit}`,
      `- ${env.machine.cores} cores, ${env.machine.cpuModel}, ${env.machine.memoryGiB} GiB memory, Linux ${env.machine.kernel}`,
      `- ${Object.entries(env.versions)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`,
      "",
    );
  }
  lines.push("## Targets at a glance", "", "| path | target | measured | |", "|---|---|---|---|");
  for (const plan of PLANNED) {
    const r = results.get(plan.name);
    if (r === undefined) {
      lines.push(`| ${plan.path} | ${plan.target} | not yet measured | |`);
      continue;
    }
    const measured = r.ratios.map((x) => `${x.name}: **${fmt(x.value)}**`).join("<br>");
    const met = r.ratios.filter((x) => x.met !== undefined);
    const verdict = met.length === 0 ? "" : met.every((x) => x.met === true) ? "met" : `**missed** (${met.filter((x) => x.met !== true).length} of ${met.length})`;
    lines.push(`| ${plan.path} | ${plan.target} | ${measured} | ${verdict} |`);
  }
  lines.push("", "## Results", "");
  for (const plan of PLANNED) {
    const r = results.get(plan.name);
    if (r !== undefined) lines.push(section(r));
  }
  for (const r of all) if (!PLANNED.some((p) => p.name === r.name)) lines.push(section(r));
  const notMeasured = PLANNED.filter((p) => !results.has(p.name));
  if (notMeasured.length > 0) {
    lines.push("## Not yet measured", "");
    for (const p of notMeasured) lines.push(`- **${p.name}** — ${p.path} (target: ${p.target})`);
    lines.push("");
  }
  if (existsSync(findingsFile)) lines.push(readFileSync(findingsFile, "utf8").trim(), "");
  const embedded = all.map((r) => ({ ...r, raw: undefined }));
  lines.push(DATA_OPEN, JSON.stringify(embedded), DATA_CLOSE, "");
  writeFileSync(markdownFile, lines.join("\n"));
}
