export { Counter, Gauge, Histogram, Registry } from "./registry.js";
export { LedgerMetrics } from "./ledger-metrics.js";
export { startMetricsServer } from "./server.js";

export type { MetricsServer } from "./server.js";
