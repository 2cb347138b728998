import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const BENCHMARKS = ["introspect", "introspect-peer", "introspect-batch", "issue", "catchup", "storage", "durability", "revocation-visibility", "growth", "grant-size"] as const;

interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number[];
}
interface Result {
  name: string;
  date: string;
  options: { runs: number; smoke: boolean };
  config: Record<string, unknown>;
  sides: { label: string; metrics: Record<string, Spread> }[];
  ratios: { name: string; value: number; target?: string; met?: boolean }[];
  environment: { machine: { cores: number }; versions: Record<string, string> };
}

/**
 * Runs every benchmark with tiny sizes and one short run (`--smoke`) in one child process, as
 * `npm run bench` would, and checks the shape of what it wrote. Never a timing assertion: the
 * numbers of a smoke run mean nothing.
 */
describe("npm run bench -- all --smoke", () => {
  let outDir: string;
  const results = new Map<string, Result>();

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), "gl-bench-smoke-"));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", join(repoRoot, "scripts/bench/cli.ts"), "all", "--smoke", "--duration", "0.5", "--warmup", "0.2", "--out-dir", outDir],
      { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024, timeout: 150_000 },
    );
    const { results: files } = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as { results: string[] };
    for (const file of files) {
      const result = JSON.parse(await readFile(file, "utf8")) as Result;
      results.set(result.name, result);
    }
  }, 160_000);

  afterAll(async () => {
    if (outDir !== undefined) await rm(outDir, { recursive: true, force: true });
  });

  it.each(BENCHMARKS)("%s writes a result with sides, medians and ratios", (name) => {
    const result = results.get(name);
    expect(result, `no result for ${name}`).toBeDefined();
    const r = result as Result;
    expect(r.options.smoke).toBe(true);
    expect(Number.isNaN(Date.parse(r.date))).toBe(false);
    expect(r.environment.machine.cores).toBeGreaterThan(0);
    expect(r.environment.versions["node"]).toBe(process.version);
    expect(r.sides.length).toBeGreaterThanOrEqual(2);
    for (const side of r.sides) {
      const metrics = Object.values(side.metrics);
      expect(metrics.length).toBeGreaterThan(0);
      for (const m of metrics) {
        expect(m.runs.length).toBe(r.options.runs);
        expect(Number.isFinite(m.median)).toBe(true);
      }
    }
    expect(r.ratios.length).toBeGreaterThan(0);
    for (const ratio of r.ratios) expect(Number.isFinite(ratio.value)).toBe(true);
  });

  it.each(["introspect", "introspect-peer", "issue"] as const)("%s measured operations and server CPU on every side", (name) => {
    const r = results.get(name) as Result;
    for (const side of r.sides) {
      expect(side.metrics["throughput (ops/s)"]?.median, side.label).toBeGreaterThan(0);
      expect(side.metrics["server CPU/op (µs)"]?.median, side.label).toBeGreaterThanOrEqual(0);
    }
  });

  it("introspect-peer measures the ledger's HTTP introspection endpoint against oidc-provider's in the same run", () => {
    const r = results.get("introspect-peer") as Result;
    expect(r.sides.map((s) => s.label)).toContain("ledger /oauth2/introspect (HTTP)");
    expect(r.ratios.find((ratio) => ratio.name === "req/s, ledger HTTP ÷ oidc-provider")?.target).toBe("≥ 3");
    // By default the ledger serves HTTP from 2 workers, and their CPU counts with the primary's.
    const http = r.sides.find((s) => s.label === "ledger /oauth2/introspect (HTTP)");
    expect(Object.keys(http?.metrics ?? {})).toEqual(expect.arrayContaining(["ledger CPU/op (µs)", "HTTP worker 1 CPU/op (µs)", "HTTP worker 2 CPU/op (µs)"]));
    expect(http?.metrics["HTTP worker 2 CPU/op (µs)"]?.median).toBeGreaterThan(0);
  });

  it("catchup applied every event on every side", () => {
    const r = results.get("catchup") as Result;
    expect(r.config["events"]).toBeGreaterThan(0);
    for (const side of r.sides) expect(side.metrics["throughput (events/s)"]?.median, side.label).toBeGreaterThan(0);
  });

  it("storage counted log messages and live tokens", () => {
    const r = results.get("storage") as Result;
    expect(r.config["log messages"]).toBeGreaterThan(0);
    expect(r.config["live tokens"]).toBeGreaterThan(0);
  });
});
