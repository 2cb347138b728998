/** Order statistics over unsorted samples. */

export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index] as number;
}

export const median = (values: readonly number[]): number => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/** Median, min and max of one metric over the runs of one side. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: readonly number[];
}

export const spread = (values: readonly number[]): Spread => ({
  median: median(values),
  min: values.length === 0 ? 0 : Math.min(...values),
  max: values.length === 0 ? 0 : Math.max(...values),
  runs: values,
});

/** Latency summary of one run, in milliseconds. */
export interface Latency {
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  readonly max: number;
}

export function latency(samples: Float64Array | number[]): Latency {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    mean: sorted.length === 0 ? 0 : sum / sorted.length,
    max: sorted.length === 0 ? 0 : (sorted[sorted.length - 1] as number),
  };
}
