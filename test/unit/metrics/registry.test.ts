import { describe, expect, it } from "vitest";
import { Registry } from "../../../services/metrics/index.js";

describe("metrics registry: Prometheus text exposition", () => {
  it("renders counters, gauges and cumulative histograms with escaped labels", async () => {
    const registry = new Registry();
    const counter = registry.counter("x_total", "Things.", ["method"]);
    counter.inc({ method: 'a"b' });
    counter.inc({ method: 'a"b' }, 2);
    registry.gauge("g", "A gauge.").set({}, 1.5);
    const h = registry.histogram("lat_seconds", "Latency.", ["m"], [0.1, 1]);
    h.observe({ m: "x" }, 0.05);
    h.observe({ m: "x" }, 0.5);
    h.observe({ m: "x" }, 5);
    const text = await registry.render();
    expect(text).toContain('# TYPE x_total counter\nx_total{method="a\\"b"} 3');
    expect(text).toContain("# TYPE g gauge\ng 1.5");
    expect(text).toContain('lat_seconds_bucket{m="x",le="0.1"} 1\nlat_seconds_bucket{m="x",le="1"} 2\nlat_seconds_bucket{m="x",le="+Inf"} 3');
    expect(text).toContain('lat_seconds_sum{m="x"} 5.55\nlat_seconds_count{m="x"} 3');
    expect(text.endsWith("\n")).toBe(true);
  });

  it("runs collectors on scrape; a failing one is counted, not fatal", async () => {
    const registry = new Registry();
    const g = registry.gauge("seen", "Scrapes.");
    let n = 0;
    registry.collect(() => g.set({}, ++n));
    registry.collect(() => {
      throw new Error("boom");
    });
    await registry.render();
    const text = await registry.render();
    expect(text).toContain("seen 2");
    expect(text).toContain("grantledger_metrics_collect_errors_total 2");
  });
});
