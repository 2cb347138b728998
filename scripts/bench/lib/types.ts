import type { Spread } from "./stats.js";

/** Options every benchmark gets from the command line. */
export interface BenchOptions {
  /** Runs per side (median over them). */
  readonly runs: number;
  /** Measured seconds per run. */
  readonly durationS: number;
  /** Warm-up seconds before each measured window. */
  readonly warmupS: number;
  /** Tiny sizes for the smoke test: correctness of the harness, not numbers. */
  readonly smoke: boolean;
  /** Size knob of the benchmark (tokens, events, ...); each benchmark has its default. */
  readonly size: number | undefined;
  /** Write V8 CPU profiles of the ledger process into this directory. */
  readonly cpuProfDir: string | undefined;
  /** GL_HTTP_WORKERS of the ledger in benchmarks of its HTTP port (introspect-peer); each has a default. */
  readonly httpWorkers: number | undefined;
  /** Progress lines. */
  log(line: string): void;
}

/** One side of a comparison, summarized over its runs. */
export interface SideSummary {
  readonly label: string;
  /** Metric name (with its unit) → median, min, max over the runs. */
  readonly metrics: Readonly<Record<string, Spread>>;
}

export interface Ratio {
  readonly name: string;
  readonly value: number;
  /** The target, as text (e.g. "≥ 0.85"). */
  readonly target?: string;
  readonly met?: boolean;
}

/** What a benchmark writes to bench/results/<name>-<timestamp>.json. */
export interface BenchResult {
  readonly name: string;
  readonly title: string;
  /** ISO date of the run. */
  readonly date: string;
  readonly options: { readonly runs: number; readonly durationS: number; readonly warmupS: number; readonly smoke: boolean };
  /** The setup, as key → value (tokens, concurrency, ...). */
  readonly config: Readonly<Record<string, string | number>>;
  readonly sides: readonly SideSummary[];
  readonly ratios: readonly Ratio[];
  readonly notes: readonly string[];
  /** Per-run raw measurements, for whoever wants more than medians. */
  readonly raw: unknown;
}

export interface Benchmark {
  readonly name: string;
  readonly title: string;
  run(options: BenchOptions): Promise<BenchResult>;
}

/** ≥ / ≤ checks against the targets. */
export const atLeast = (name: string, value: number, bar: number): Ratio => ({ name, value, target: `≥ ${bar}`, met: value >= bar });
export const atMost = (name: string, value: number, bar: number): Ratio => ({ name, value, target: `≤ ${bar}`, met: value <= bar });
