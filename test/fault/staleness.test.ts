import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientAndGrant, issue } from "../support/e2e-harness.js";
import { connectClients, type LedgerClients } from "../support/grpc-clients.js";
import { connectHealth, type HealthClient } from "../support/health.js";
import { startTestLedger, type TestLedger } from "../support/ledger.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { attempt, codeName, say, sleep } from "../support/fault-kit.js";

const log = say("staleness");
const BOUND_MS = 1_500;
const CHECK_MS = 100;
/** Margin over the bound: one check period, the request's own grace wait (min(minSequenceWait, 1 s)) and scheduling. */
const MARGIN_MS = 2_000;
const INTROSPECTION = "grantledger.v1.IntrospectionService";

describe("staleness bound: an introspection process that cannot confirm it is fresh fails closed", () => {
  let nats: NatsServer;
  let ledger: TestLedger;
  let api: LedgerClients;
  let health: HealthClient;

  beforeAll(async () => {
    nats = await startNatsServer();
    ledger = await startTestLedger(nats.url, { maxStalenessMs: BOUND_MS, stalenessCheckMs: CHECK_MS, minSequenceWaitMs: 1_000 });
    api = connectClients(ledger.address, 15_000);
    health = connectHealth(ledger.address);
  });
  afterAll(async () => {
    api?.close();
    health?.close();
    await ledger?.stop();
    await nats?.stop();
  });

  it("answers UNAVAILABLE and NOT_SERVING within the bound after NATS stops, and recovers by itself", { timeout: 90_000 }, async () => {
    const f = await clientAndGrant(api);
    const token = await issue(api, f.grantId, { refresh: false });
    expect((await api.introspection.introspect({ token: token.accessToken, minSequence: token.sequence })).active).toBe(true);
    expect(await health.check(INTROSPECTION)).toBe("SERVING");

    await nats.kill("SIGTERM");
    const downAt = Date.now();
    log(`nats-server stopped; bound ${BOUND_MS} ms`);

    // Within the bound the read model may still answer (it was confirmed fresh a moment ago) ...
    let firstUnavailableAfter: number | undefined;
    let lastActiveAfter = 0;
    while (Date.now() - downAt < BOUND_MS + MARGIN_MS + 2_000) {
      const outcome = await attempt(api.introspection.introspect({ token: token.accessToken }));
      const elapsed = Date.now() - downAt;
      if (outcome.ok) {
        expect(outcome.value.active).toBe(true);
        lastActiveAfter = elapsed;
        // ... but never past it.
        expect(elapsed).toBeLessThanOrEqual(BOUND_MS + CHECK_MS + 100);
      } else {
        expect(codeName(outcome.code), outcome.details).toBe("UNAVAILABLE");
        expect(outcome.details).toContain("cannot confirm");
        firstUnavailableAfter ??= elapsed;
      }
      await sleep(50);
    }
    expect(firstUnavailableAfter).toBeDefined();
    expect(firstUnavailableAfter as number).toBeLessThanOrEqual(BOUND_MS + MARGIN_MS);
    expect(await health.check(INTROSPECTION)).toBe("NOT_SERVING");
    // A batch fails whole, with the same answer: no token of it is judged from stale data.
    const batchDown = await attempt(api.introspection.introspectBatch({ tokens: [token.accessToken, "gla_x"] }));
    expect(batchDown.ok).toBe(false);
    if (!batchDown.ok) {
      expect(codeName(batchDown.code)).toBe("UNAVAILABLE");
      expect(batchDown.details).toContain("cannot confirm");
    }
    // Only introspection is gated; the server itself is up.
    expect(await health.check("")).toBe("SERVING");
    log(`last active answer ${lastActiveAfter} ms after the stop; first UNAVAILABLE ${firstUnavailableAfter} ms after; health NOT_SERVING`);

    await nats.restart();
    const backAt = Date.now();
    let recoveredAfter: number | undefined;
    while (Date.now() - backAt < 30_000) {
      const outcome = await attempt(api.introspection.introspect({ token: token.accessToken }));
      if (outcome.ok) {
        recoveredAfter = Date.now() - backAt;
        expect(outcome.value.active).toBe(true);
        break;
      }
      expect(codeName(outcome.code)).toBe("UNAVAILABLE");
      await sleep(100);
    }
    expect(recoveredAfter).toBeDefined();
    expect(await health.check(INTROSPECTION)).toBe("SERVING");
    expect((await api.introspection.introspectBatch({ tokens: [token.accessToken, "gla_x"] })).results.map((r) => r.active)).toEqual([true, false]);
    // Writes flow again and the read model follows them: a revocation is seen.
    const revoked = await api.revocation.revokeGrant({ requestId: `r-${Date.now()}`, grantId: f.grantId, reason: "after outage" });
    expect((await api.introspection.introspect({ token: token.accessToken, minSequence: revoked.sequence })).active).toBe(false);
    log(`nats-server back: introspection serving again ${recoveredAfter} ms later, without a restart`);
  });
});
