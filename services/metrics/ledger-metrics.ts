import type { CommandObserver } from "../commands/index.js";
import type { RpcObserver } from "../grpc/handler.js";
import type { HttpObserver } from "../http/index.js";
import { Registry } from "./registry.js";

/** gRPC status names, for the `code` label (grpc-js `status` enum order). */
const GRPC_CODES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
  "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
] as const;

/** Seconds; from 250 µs (a warm Introspect) to 10 s (a command waiting out a NATS timeout). */
const LATENCY_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The ledger's series (names follow Prometheus conventions: `_total` counters, base units). RPC and
 * write-path series are pushed as they happen; log, projection and read-model gauges are refreshed
 * by collectors on scrape.
 */
export class LedgerMetrics implements RpcObserver, CommandObserver, HttpObserver {
  readonly registry = new Registry();
  readonly #rpcs = this.registry.counter("grantledger_rpc_requests_total", "RPCs served, by method and gRPC status.", ["method", "code"]);
  readonly #rpcErrors = this.registry.counter("grantledger_rpc_errors_total", "RPCs that ended with a status other than OK.", ["method", "code"]);
  readonly #rpcLatency = this.registry.histogram("grantledger_rpc_duration_seconds", "RPC latency, by method.", ["method"], LATENCY_BUCKETS);
  readonly #http = this.registry.counter(
    "grantledger_http_requests_total",
    "OAuth HTTP requests, by endpoint path, HTTP status and OAuth error (empty when none).",
    ["path", "status", "error"],
  );
  readonly #httpLatency = this.registry.histogram("grantledger_http_duration_seconds", "OAuth HTTP request latency, by endpoint path.", ["path"], LATENCY_BUCKETS);
  readonly #appends = this.registry.counter("grantledger_appends_total", "Messages appended to the log, by aggregate kind and result (appended | duplicate).", ["aggregate", "result"]);
  readonly #conflicts = this.registry.counter("grantledger_append_conflicts_total", "Appends that lost an optimistic-concurrency race (then decided again).", ["aggregate"]);
  readonly followResets = this.registry.counter("grantledger_log_follow_resets_total", "Times a projection's log consumer was replaced (lost heartbeats after a node or leader loss, deleted consumer), by reason.", ["reason"]);
  /** Exposed so the wiring can add its own gauges and collectors. */
  readonly head = this.registry.gauge("grantledger_log_head_sequence", "Last sequence of the log stream, as last read.");
  readonly applied = this.registry.gauge("grantledger_projection_applied_sequence", "Last stream sequence applied by the projection.", ["projection"]);
  readonly lagEvents = this.registry.gauge("grantledger_projection_lag_events", "Messages in the log the projection has not applied yet.", ["projection"]);
  readonly lagSeconds = this.registry.gauge("grantledger_projection_lag_seconds", "Age of the oldest message the projection has not applied (0 when caught up).", ["projection"]);
  readonly size = this.registry.gauge("grantledger_read_model_bytes", "Size of the projection's SQLite file plus its WAL.", ["projection"]);
  readonly generation = this.registry.gauge("grantledger_projection_generation", "Generation of the projection's active file (0 before any rebuild; each blue-green rebuild adds one).", ["projection"]);
  readonly rebuildProgress = this.registry.gauge("grantledger_projection_rebuild_progress_ratio", "Applied / head of the rebuild in progress (0 when none runs).", ["projection"]);
  readonly rebuildApplied = this.registry.gauge("grantledger_projection_rebuild_applied_sequence", "Last sequence the copy being rebuilt has applied (0 when no rebuild runs).", ["projection"]);
  readonly rebuildRate = this.registry.gauge("grantledger_projection_rebuild_events_per_second", "Messages per second the rebuild in progress applies (0 when none runs).", ["projection"]);
  readonly tokens = this.registry.gauge("grantledger_tokens", "Token rows in the tokens read model, by state (active | expired | revoked | inactive).", ["state"]);
  readonly staleness = this.registry.gauge("grantledger_read_model_staleness_seconds", "Time since the read model was last confirmed within the log's head.");
  readonly fresh = this.registry.gauge("grantledger_introspection_fresh", "1 while introspection is within the staleness bound, 0 while it fails closed.");

  rpc(method: string, grpcCode: number, durationMs: number): void {
    let series = this.#rpcSeries.get(method);
    if (series === undefined) {
      series = { latency: this.#rpcLatency.bound({ method }), ok: this.#rpcs.bound({ method, code: "OK" }) };
      this.#rpcSeries.set(method, series);
    }
    series.latency(durationMs / 1000);
    // The common answer through series resolved once; every other code by its labels.
    if (grpcCode === 0) {
      series.ok();
      return;
    }
    const code = GRPC_CODES[grpcCode] ?? String(grpcCode);
    this.#rpcs.inc({ method, code });
    this.#rpcErrors.inc({ method, code });
  }

  http(path: string, status: number, error: string | undefined, durationMs: number): void {
    let series = this.#httpSeries.get(path);
    if (series === undefined) {
      series = { latency: this.#httpLatency.bound({ path }), ok: this.#http.bound({ path, status: "200", error: "" }) };
      this.#httpSeries.set(path, series);
    }
    series.latency(durationMs / 1000);
    if (status === 200 && error === undefined) series.ok();
    else this.#http.inc({ path, status: String(status), error: error ?? "" });
  }

  /** Per method (per HTTP path): the latency series and the success counter, labels resolved once. */
  readonly #rpcSeries = new Map<string, { latency: (seconds: number) => void; ok: () => void }>();
  readonly #httpSeries = new Map<string, { latency: (seconds: number) => void; ok: () => void }>();

  appended(aggregate: string, duplicate: boolean): void {
    this.#appends.inc({ aggregate, result: duplicate ? "duplicate" : "appended" });
  }

  conflict(aggregate: string): void {
    this.#conflicts.inc({ aggregate });
  }
}
