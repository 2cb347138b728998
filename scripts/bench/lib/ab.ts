import type { LoadGenerator, MeasuredRun } from "./load.js";
import type { RunSpec } from "./loadgen.js";
import { spread } from "./stats.js";
import type { BenchOptions, SideSummary } from "./types.js";

/** One side of an A/B comparison: its load generator, and the server processes whose CPU counts. */
export interface Side {
  readonly label: string;
  readonly load: LoadGenerator;
  readonly run: RunSpec;
  /** label → pid; their CPU in the window, summed, is the side's "server CPU". */
  readonly watch: Readonly<Record<string, number>>;
}

export const THROUGHPUT = "throughput (ops/s)";
export const P50 = "p50 (ms)";
export const P99 = "p99 (ms)";
export const CPU = "server CPU/op (µs)";
export const CLIENT_CPU = "load generator CPU/op (µs)";

/**
 * Runs every side `options.runs` times, alternating the order each round (A B, B A, ...) so a
 * drift in the machine's load hits both sides alike. Fails when a side saw errors or wrong answers
 * beyond 1% of its operations (a benchmark of a failing server measures nothing).
 */
export async function alternate(options: BenchOptions, sides: readonly Side[]): Promise<Map<string, MeasuredRun[]>> {
  const byLabel = new Map<string, MeasuredRun[]>(sides.map((s) => [s.label, []]));
  for (let round = 0; round < options.runs; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      const measured = await side.load.run(side.run, side.watch);
      const bad = measured.errors + measured.wrong;
      if (measured.ops === 0 || bad > measured.ops / 100) {
        throw new Error(
          `${side.label}: ${measured.ops} ops, ${measured.errors} errors, ${measured.wrong} wrong answers (first error: ${measured.firstError ?? "none"})`,
        );
      }
      byLabel.get(side.label)?.push(measured);
      options.log(
        `  round ${round + 1}/${options.runs} ${side.label}: ${measured.throughput.toFixed(0)} ops/s, p50 ${measured.latencyMs.p50.toFixed(2)} ms, ` +
          `p99 ${measured.latencyMs.p99.toFixed(2)} ms, server CPU ${(measured.cpuUsPerOp["server"] ?? 0).toFixed(1)} µs/op`,
      );
    }
  }
  return byLabel;
}

/** Medians and spreads of the usual metrics, plus CPU/op of each watched process. */
export function summarize(label: string, runs: readonly MeasuredRun[]): SideSummary {
  const metrics: Record<string, ReturnType<typeof spread>> = {
    [THROUGHPUT]: spread(runs.map((r) => r.throughput)),
    [P50]: spread(runs.map((r) => r.latencyMs.p50)),
    [P99]: spread(runs.map((r) => r.latencyMs.p99)),
    [CPU]: spread(runs.map((r) => r.cpuUsPerOp["server"] ?? 0)),
  };
  metrics[CLIENT_CPU] = spread(runs.map((r) => r.loadGeneratorCpuUsPerOp));
  const processes = Object.keys(runs[0]?.cpuMs ?? {});
  if (processes.length > 1) {
    for (const p of processes) metrics[`${p} CPU/op (µs)`] = spread(runs.map((r) => r.cpuUsPerOp[p] ?? 0));
  }
  return { label, metrics };
}

export const med = (side: SideSummary, metric: string): number => side.metrics[metric]?.median ?? 0;
