import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatToken } from "../../services/domain/shared/token-format.js";
import { IntrospectionServiceClient, type IntrospectResponse } from "../../services/gen/grantledger/v1/introspection_service.js";
import { MAX_BATCH_TOKENS } from "../../services/grpc/introspection-service.js";
import { clientAndGrant, expectFailure, INACTIVE, issue, rid, startE2E, type E2E } from "../support/e2e-harness.js";
import { actor } from "../support/grpc-clients.js";
import { freePort } from "../support/nats-server.js";
import { writePolicy } from "../support/security.js";

/**
 * IntrospectBatch end to end through a real gRPC client: every token answers exactly what
 * Introspect answers for it alone, in order, under the same caller rules (policy, resource hiding,
 * per-token rate limit) and the same request-level checks (min_sequence, validation).
 */
describe("e2e: IntrospectBatch answers each token exactly like Introspect", () => {
  let e2e: E2E;
  let dir: string;
  let metricsPort: number;
  const as = (name: string): Metadata => actor(name);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gl-batch-"));
    // Under --insecure-dev the x-actor header names the caller, and a policy file still decides
    // what it may call: enough to exercise authorization without certificates.
    const policyFile = writePolicy(dir, {
      roles: {
        writer: ["ClientService/*", "GrantService/*", "TokenService/*", "RevocationService/*"],
        single: ["IntrospectionService/Introspect"],
        gateway: ["IntrospectionService/*"],
      },
      callers: {
        e2e: { roles: ["writer", "gateway"] },
        "rs-only": { roles: ["single"] },
        gw: { roles: ["gateway"] },
        "gw-acct-7": { roles: ["gateway"], resources: ["acct-7"] },
        "gw-limited": { roles: ["gateway"], rateLimits: { introspect: { perSecond: 0.001, burst: 5 } } },
      },
    });
    metricsPort = await freePort();
    e2e = await startE2E({ policyFile, metricsPort, minSequenceWaitMs: 300 });
  });
  afterAll(async () => {
    await e2e?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const batch = (tokens: string[], minSequence: number | undefined, caller = "gw") =>
    e2e.api.introspection.introspectBatch({ tokens, tokenTypeHint: undefined, minSequence }, as(caller));
  const single = (token: string, minSequence: number | undefined, caller = "gw") =>
    e2e.api.introspection.introspect({ token, tokenTypeHint: undefined, minSequence }, as(caller));

  it("mixed active, revoked, expired, unknown and malformed tokens: in order, equal to single calls", async () => {
    const f = await clientAndGrant(e2e.api);
    const other = await clientAndGrant(e2e.api, { resources: ["acct-7"], grantScopes: ["zone:read"] });
    const live = await issue(e2e.api, f.grantId, { refresh: true });
    const revoked = await issue(e2e.api, f.grantId, { refresh: true });
    const shortLived = await issue(e2e.api, f.grantId, { refresh: false, ttl: 1 });
    const elsewhere = await issue(e2e.api, other.grantId, { refresh: false });
    const revocation = await e2e.api.revocation.revokeToken({ requestId: rid(), token: revoked.refreshToken }, as("e2e"));
    // Let the 1-second token expire (the only way to get an expired one: the ledger reads the clock).
    await sleep(1_100);
    const seq = revocation.sequence;
    const tokens = [
      live.accessToken,
      revoked.accessToken,
      "not a token",
      live.refreshToken,
      shortLived.accessToken,
      formatToken("access_token", randomBytes(32)),
      revoked.refreshToken,
      elsewhere.accessToken,
      live.accessToken.slice(0, -1) + (live.accessToken.endsWith("A") ? "B" : "A"),
      f.clientSecret,
      live.accessToken, // a repeated token is answered again, not deduplicated
    ];
    const { results } = await batch(tokens, seq);
    const alone: IntrospectResponse[] = [];
    for (const t of tokens) alone.push(await single(t, seq));
    expect(results).toEqual(alone);
    // And the answers are the ones expected, so equality above is not two equal mistakes.
    expect(results.map((r) => r.active)).toEqual([true, false, false, true, false, false, false, true, false, false, true]);
    expect(results[0]).toMatchObject({ active: true, grantId: f.grantId, tokenType: "access_token", resources: ["acct-1"] });
    expect(results[3]).toMatchObject({ active: true, tokenType: "refresh_token" });
    expect(results[7]).toMatchObject({ active: true, grantId: other.grantId, scope: "zone:read", resources: ["acct-7"] });
    for (const i of [1, 2, 4, 5, 6, 8, 9]) expect(results[i]).toEqual(INACTIVE);
  });

  it("hides tokens outside a restricted caller's resources exactly as Introspect does", async () => {
    const mine = await clientAndGrant(e2e.api, { resources: ["acct-7"] });
    const theirs = await clientAndGrant(e2e.api);
    const a = await issue(e2e.api, mine.grantId, { refresh: false });
    const b = await issue(e2e.api, theirs.grantId, { refresh: false });
    const tokens = [b.accessToken, a.accessToken, formatToken("access_token", randomBytes(32))];
    const { results } = await batch(tokens, b.sequence, "gw-acct-7");
    expect(results.map((r) => r.active)).toEqual([false, true, false]);
    expect(results[0]).toEqual(INACTIVE);
    const alone: IntrospectResponse[] = [];
    for (const t of tokens) alone.push(await single(t, b.sequence, "gw-acct-7"));
    expect(results).toEqual(alone);
  });

  it("min_sequence: waits for it, and fails the whole batch UNAVAILABLE when the read model does not reach it", async () => {
    const f = await clientAndGrant(e2e.api);
    const t = await issue(e2e.api, f.grantId, { refresh: false });
    // Right after the command: the wait is what makes the new token visible.
    expect((await batch([t.accessToken], t.sequence)).results[0]?.active).toBe(true);
    await expectFailure(batch([t.accessToken, "x"], t.sequence + 1_000_000), {
      code: status.UNAVAILABLE,
      details: ["min_sequence"],
      field: "min_sequence",
      oauth: "temporarily_unavailable",
    });
  });

  it("carries the gl-sequence trailer: the one applied sequence every answer of the batch reflects", async () => {
    const f = await clientAndGrant(e2e.api);
    const t = await issue(e2e.api, f.grantId, { refresh: false });
    const client = new IntrospectionServiceClient(e2e.ledger.address, credentials.createInsecure());
    try {
      const seq = await new Promise<number>((done, fail) => {
        const call = client.introspectBatch({ tokens: [t.accessToken, "x"], minSequence: t.sequence }, as("gw"), (error) => {
          if (error !== null) fail(error);
        });
        call.on("status", (s) => done(Number(s.metadata.get("gl-sequence")[0])));
      });
      expect(seq).toBeGreaterThanOrEqual(t.sequence);
      expect(seq).toBeLessThanOrEqual(await e2e.head());
    } finally {
      client.close();
    }
  });

  it("validates at the edge: empty batch, too many tokens, an empty or oversized token, naming the field", async () => {
    const ok = formatToken("access_token", randomBytes(32));
    await expectFailure(batch([], undefined), { code: status.INVALID_ARGUMENT, field: "tokens", details: ["at least one token"] });
    await expectFailure(batch(Array.from({ length: MAX_BATCH_TOKENS + 1 }, () => ok), undefined), {
      code: status.INVALID_ARGUMENT,
      field: "tokens",
      details: [`at most ${MAX_BATCH_TOKENS} tokens`],
    });
    await expectFailure(batch([ok, ok, ok, "x".repeat(4097)], undefined), {
      code: status.INVALID_ARGUMENT,
      field: "tokens[3]",
      details: ["tokens[3]: token is longer than 4096 characters"],
    });
    await expectFailure(batch([ok, ""], undefined), { code: status.INVALID_ARGUMENT, field: "tokens[1]", details: ["token is required"] });
    // The bound itself is accepted.
    const { results } = await batch(Array.from({ length: MAX_BATCH_TOKENS }, () => ok), undefined);
    expect(results).toHaveLength(MAX_BATCH_TOKENS);
    expect(results.every((r) => r.active === false)).toBe(true);
  });

  it("authorizes per method: a caller allowed only Introspect, or no caller at all, is refused", async () => {
    const ok = formatToken("access_token", randomBytes(32));
    expect((await single(ok, undefined, "rs-only")).active).toBe(false);
    await expectFailure(batch([ok], undefined, "rs-only"), { code: status.PERMISSION_DENIED, details: ["IntrospectionService/IntrospectBatch"] });
    await expectFailure(batch([ok], undefined, "stranger"), { code: status.PERMISSION_DENIED });
    const badKey = new Metadata();
    badKey.set("authorization", "Bearer glk_not-a-key");
    await expectFailure(e2e.api.introspection.introspectBatch({ tokens: [ok], tokenTypeHint: undefined, minSequence: undefined }, badKey), {
      code: status.UNAUTHENTICATED,
    });
  });

  it("rate limits per token, from the same bucket as Introspect", async () => {
    const ok = formatToken("access_token", randomBytes(32));
    // burst 5, practically no refill: 3 + 1 + 1 tokens pass, then neither form does. A batch of 3
    // with 2 left is refused whole and takes nothing.
    expect((await batch([ok, ok, ok], undefined, "gw-limited")).results).toHaveLength(3);
    await expectFailure(batch([ok, ok, ok], undefined, "gw-limited"), { code: status.RESOURCE_EXHAUSTED, details: ["introspection rate"] });
    expect((await single(ok, undefined, "gw-limited")).active).toBe(false);
    expect((await batch([ok], undefined, "gw-limited")).results).toHaveLength(1);
    await expectFailure(single(ok, undefined, "gw-limited"), { code: status.RESOURCE_EXHAUSTED });
    await expectFailure(batch([ok, ok, ok, ok, ok, ok], undefined, "gw-limited"), {
      code: status.RESOURCE_EXHAUSTED,
      details: ["more than its introspection burst of 5"],
    });
  });

  it("counts the RPC under its own method in the metrics and logs no presented token", async () => {
    const f = await clientAndGrant(e2e.api);
    const t = await issue(e2e.api, f.grantId, { refresh: true });
    await batch([t.accessToken, t.refreshToken], t.sequence);
    await expectFailure(batch([], undefined), { code: status.INVALID_ARGUMENT });
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(text).toMatch(/^grantledger_rpc_requests_total\{method="IntrospectBatch",code="OK"\} [1-9]\d*$/m);
    expect(text).toMatch(/^grantledger_rpc_requests_total\{method="IntrospectBatch",code="INVALID_ARGUMENT"\} [1-9]\d*$/m);
    const logs = e2e.ledger.logs.lines.join("\n");
    expect(logs).toContain('"method":"IntrospectBatch"');
    for (const secret of [t.accessToken, t.refreshToken, f.clientSecret]) expect(logs).not.toContain(secret);
  });
});
