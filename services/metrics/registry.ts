/**
 * A minimal Prometheus registry with the text exposition format (version 0.0.4): counters, gauges
 * and histograms with labels, and collectors that refresh gauges on scrape. Small on purpose: the
 * ledger needs a handful of series, not a client library (swap in prom-client behind the same
 * {@link Metrics} use if it is ever installed).
 */

type Labels = Readonly<Record<string, string>>;

interface Metric {
  readonly name: string;
  render(): string;
}

const escapeLabel = (value: string): string => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const escapeHelp = (value: string): string => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

function labelText(labels: Labels, extra?: readonly [string, string]): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra !== undefined) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

const formatValue = (value: number): string =>
  Number.isNaN(value) ? "NaN" : value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : String(value);

/** Stable key of a label set (names in declaration order). */
const keyOf = (names: readonly string[], labels: Labels): string => names.map((n) => labels[n] ?? "").join("\u0000");

abstract class Labelled<V> implements Metric {
  readonly #series = new Map<string, { labels: Labels; value: V }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge" | "histogram",
    readonly labelNames: readonly string[],
  ) {}

  protected abstract fresh(): V;
  protected abstract lines(labels: Labels, value: V): string[];

  protected series(labels: Labels): { labels: Labels; value: V } {
    const key = keyOf(this.labelNames, labels);
    let entry = this.#series.get(key);
    if (entry === undefined) {
      const picked = Object.fromEntries(this.labelNames.map((n) => [n, labels[n] ?? ""]));
      entry = { labels: picked, value: this.fresh() };
      this.#series.set(key, entry);
    }
    return entry;
  }

  /** Drops every series (a gauge family recomputed as a whole on scrape). */
  reset(): void {
    this.#series.clear();
  }

  render(): string {
    const out = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, value } of this.#series.values()) out.push(...this.lines(labels, value));
    return out.join("\n");
  }
}

export class Counter extends Labelled<{ n: number }> {
  protected fresh(): { n: number } {
    return { n: 0 };
  }
  protected lines(labels: Labels, value: { n: number }): string[] {
    return [`${this.name}${labelText(labels)} ${formatValue(value.n)}`];
  }
  inc(labels: Labels = {}, by = 1): void {
    this.series(labels).value.n += by;
  }
  /** One series' increment, its labels resolved once (for a hot path: no label key per call). */
  bound(labels: Labels): (by?: number) => void {
    const value = this.series(labels).value;
    return (by = 1) => {
      value.n += by;
    };
  }
}

export class Gauge extends Labelled<{ n: number }> {
  protected fresh(): { n: number } {
    return { n: 0 };
  }
  protected lines(labels: Labels, value: { n: number }): string[] {
    return [`${this.name}${labelText(labels)} ${formatValue(value.n)}`];
  }
  set(labels: Labels, value: number): void {
    this.series(labels).value.n = value;
  }
}

interface HistogramValue {
  readonly counts: number[];
  sum: number;
  count: number;
}

export class Histogram extends Labelled<HistogramValue> {
  readonly buckets: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, "histogram", labelNames);
    this.buckets = [...buckets].sort((a, b) => a - b);
  }
  protected fresh(): HistogramValue {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }
  protected lines(labels: Labels, value: HistogramValue): string[] {
    const out = this.buckets.map(
      (le, i) => `${this.name}_bucket${labelText(labels, ["le", formatValue(le)])} ${value.counts[i] ?? 0}`,
    );
    out.push(`${this.name}_bucket${labelText(labels, ["le", "+Inf"])} ${value.count}`);
    out.push(`${this.name}_sum${labelText(labels)} ${formatValue(value.sum)}`);
    out.push(`${this.name}_count${labelText(labels)} ${value.count}`);
    return out;
  }
  observe(labels: Labels, value: number): void {
    this.#record(this.series(labels).value, value);
  }
  /** One series' observe, its labels resolved once (for a hot path: no label key per call). */
  bound(labels: Labels): (value: number) => void {
    const series = this.series(labels).value;
    return (value) => this.#record(series, value);
  }
  #record(series: HistogramValue, value: number): void {
    // Buckets are cumulative: every bucket whose bound is >= the value counts it.
    for (let i = 0; i < this.buckets.length; i++) if (value <= (this.buckets[i] as number)) series.counts[i] = (series.counts[i] ?? 0) + 1;
    series.sum += value;
    series.count += 1;
  }
}

/** A set of metrics plus collectors run before each scrape. */
export class Registry {
  readonly #metrics: Metric[] = [];
  readonly #collectors: Array<() => void | Promise<void>> = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, "counter", labelNames));
  }
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#add(new Gauge(name, help, "gauge", labelNames));
  }
  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, labelNames, buckets));
  }

  /** Runs on every scrape, before rendering (refresh gauges from SQLite, the log, ...). */
  collect(collector: () => void | Promise<void>): void {
    this.#collectors.push(collector);
  }

  /** The exposition text. A failing collector does not fail the scrape: its gauges keep their last value. */
  async render(): Promise<string> {
    await Promise.all(
      this.#collectors.map(async (collect) => {
        try {
          await collect();
        } catch {
          // Reported by the scrape_errors counter below.
          this.#scrapeErrors.inc();
        }
      }),
    );
    return `${this.#metrics.map((m) => m.render()).join("\n")}\n`;
  }

  readonly #scrapeErrors = this.counter("grantledger_metrics_collect_errors_total", "Collectors that failed during a scrape.");

  #add<M extends Metric>(metric: M): M {
    if (this.#metrics.some((m) => m.name === metric.name)) throw new Error(`metric ${metric.name} registered twice`);
    this.#metrics.push(metric);
    return metric;
  }
}
