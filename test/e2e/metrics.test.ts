import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientAndGrant, introspect, issue, rid, startE2E, type E2E } from "../support/e2e-harness.js";
import { actor } from "../support/grpc-clients.js";
import { attempt } from "../support/fault-kit.js";
import { freePort } from "../support/nats-server.js";

/** Parses the exposition text into `name{labels}` → value, checking every sample line's shape. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? (-?[0-9.e+-]+|\+Inf|NaN)$/);
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe("e2e: Prometheus metrics endpoint", () => {
  let e2e: E2E;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    e2e = await startE2E({ metricsPort: port });
  });
  afterAll(async () => {
    await e2e?.stop();
  });

  const scrape = async (): Promise<{ series: Map<string, number>; text: string; contentType: string | null }> => {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    return { series: parse(text), text, contentType: response.headers.get("content-type") };
  };

  it("exposes RPC, write-path, projection, read-model and token series with plausible values", async () => {
    expect(e2e.ledger.ledger.metricsPort).toBe(port);
    const f = await clientAndGrant(e2e.api);
    const t1 = await issue(e2e.api, f.grantId, { refresh: true });
    const t2 = await issue(e2e.api, f.grantId, { refresh: false });
    // A retried request id is a duplicate append, not a new one.
    const requestId = rid();
    const md = actor("metrics");
    await e2e.api.revocation.revokeToken({ requestId, token: t2.accessToken }, md);
    await e2e.api.revocation.revokeToken({ requestId, token: t2.accessToken }, md);
    for (let i = 0; i < 5; i++) expect((await introspect(e2e.api, t1.accessToken, t2.sequence)).active).toBe(true);
    const bad = await attempt(e2e.api.introspection.introspect({ token: "" }));
    expect(bad.ok).toBe(false);
    const head = await e2e.head();

    const { series, text, contentType } = await scrape();
    expect(contentType).toContain("text/plain; version=0.0.4");
    expect(series.get('grantledger_rpc_requests_total{method="Introspect",code="OK"}')).toBe(5);
    expect(series.get('grantledger_rpc_requests_total{method="Introspect",code="INVALID_ARGUMENT"}')).toBe(1);
    expect(series.get('grantledger_rpc_errors_total{method="Introspect",code="INVALID_ARGUMENT"}')).toBe(1);
    expect(series.get('grantledger_rpc_requests_total{method="IssueTokens",code="OK"}')).toBe(2);
    expect(series.get('grantledger_rpc_duration_seconds_count{method="Introspect"}')).toBe(6);
    expect(series.get('grantledger_rpc_duration_seconds_bucket{method="Introspect",le="+Inf"}')).toBe(6);
    const introspectSum = series.get('grantledger_rpc_duration_seconds_sum{method="Introspect"}') ?? -1;
    expect(introspectSum).toBeGreaterThan(0);
    expect(introspectSum).toBeLessThan(5);
    // client registered, grant created, 2 issues, 1 revocation (+1 duplicate)
    expect(series.get('grantledger_appends_total{aggregate="client",result="appended"}')).toBe(1);
    expect(series.get('grantledger_appends_total{aggregate="grant",result="appended"}')).toBe(4);
    expect(text).toContain("# TYPE grantledger_append_conflicts_total counter");
    expect(series.get("grantledger_log_head_sequence")).toBe(head);
    expect(series.get('grantledger_projection_applied_sequence{projection="tokens"}')).toBe(head);
    expect(series.get('grantledger_projection_lag_events{projection="tokens"}')).toBe(0);
    expect(series.get('grantledger_projection_lag_seconds{projection="tokens"}')).toBe(0);
    expect(series.get('grantledger_read_model_bytes{projection="tokens"}')).toBeGreaterThan(4096);
    expect(series.get('grantledger_read_model_bytes{projection="audit"}')).toBeGreaterThan(4096);
    expect(series.get('grantledger_tokens{state="active"}')).toBe(2);
    expect(series.get('grantledger_tokens{state="revoked"}')).toBe(1);
    expect(series.get("grantledger_introspection_fresh")).toBe(1);
    const staleness = series.get("grantledger_read_model_staleness_seconds") ?? -1;
    expect(staleness).toBeGreaterThanOrEqual(0);
    expect(staleness).toBeLessThan(e2e.ledger.config.maxStalenessMs / 1000);
  });

  it("answers 404 elsewhere", async () => {
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
  });
});
