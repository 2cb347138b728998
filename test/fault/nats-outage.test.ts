import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientType } from "../../services/gen/grantledger/v1/client_service.js";
import { actor, connectClients, type LedgerClients } from "../support/grpc-clients.js";
import { startTestLedger, type TestLedger } from "../support/ledger.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { attempt, auditLog, codeName, readWholeLog, say, sleep, type Outcome } from "../support/fault-kit.js";

const log = say("nats-outage");
/** The test's gRPC deadline: an outage must be reported well within it, not run into it. */
const DEADLINE_MS = 15_000;

describe("NATS unreachable under a running ledger", () => {
  let nats: NatsServer;
  let ledger: TestLedger;
  let api: LedgerClients;

  beforeAll(async () => {
    nats = await startNatsServer();
    // A staleness bound longer than the outage: this test is about commands and reads from the
    // read model; the bound failing introspection closed is test/fault/staleness.test.ts.
    ledger = await startTestLedger(nats.url, { minSequenceWaitMs: 1_000, maxStalenessMs: 120_000 });
    api = connectClients(ledger.address, DEADLINE_MS);
  });
  afterAll(async () => {
    api?.close();
    await ledger?.stop();
    await nats?.stop();
  });

  it("fails commands with UNAVAILABLE, writes nothing, and recovers by itself when NATS is back", { timeout: 90_000 }, async () => {
    const md = actor("outage-test");
    const acked = new Set<string>();
    const ok = async <T extends { sequence: number }>(requestId: string, call: Promise<T>): Promise<T> => {
      const value = await call;
      acked.add(requestId);
      return value;
    };
    const rid = (): string => randomUUID();

    // ---- before: a client, two grants, a token --------------------------------------------------
    let r = rid();
    const client = await ok(r, api.clients.registerClient({ requestId: r, ownerAccount: "acct-o", name: "Outage app", redirectUris: ["https://o.example/cb"], allowedScopes: ["zone:read"], clientType: ClientType.CLIENT_TYPE_PUBLIC }, md));
    r = rid();
    const g1 = await ok(r, api.grants.createGrant({ requestId: r, subject: "u1", clientId: client.clientId, scopes: ["zone:read"], resources: [] }, md));
    r = rid();
    const g2 = await ok(r, api.grants.createGrant({ requestId: r, subject: "u2", clientId: client.clientId, scopes: ["zone:read"], resources: [] }, md));
    r = rid();
    const t1 = await ok(r, api.tokens.issueTokens({ requestId: r, grantId: g1.grantId, scopes: [], includeRefreshToken: false }, md));
    const headBefore = await ledger.ledger.log.headSequence();
    expect((await api.introspection.introspect({ token: t1.accessToken, minSequence: headBefore })).active).toBe(true);

    // ---- NATS goes away ----------------------------------------------------------------------------
    const downAt = Date.now();
    await nats.kill("SIGTERM");
    log(`nats-server stopped (log head was ${headBefore})`);
    const wave = {
      RegisterClient: { requestId: rid(), ownerAccount: "acct-o", name: "Down app", redirectUris: ["https://o.example/cb"], allowedScopes: ["zone:read"], clientType: ClientType.CLIENT_TYPE_PUBLIC },
      CreateGrant: { requestId: rid(), subject: "u3", clientId: client.clientId, scopes: ["zone:read"], resources: [] },
      IssueTokens: { requestId: rid(), grantId: g1.grantId, scopes: [], includeRefreshToken: true },
      RevokeGrant: { requestId: rid(), grantId: g2.grantId, reason: "during outage" },
      RevokeToken: { requestId: rid(), token: t1.accessToken },
    };
    const send = {
      RegisterClient: () => api.clients.registerClient(wave.RegisterClient, md),
      CreateGrant: () => api.grants.createGrant(wave.CreateGrant, md),
      IssueTokens: () => api.tokens.issueTokens(wave.IssueTokens, md),
      RevokeGrant: () => api.revocation.revokeGrant(wave.RevokeGrant, md),
      RevokeToken: () => api.revocation.revokeToken(wave.RevokeToken, md),
    };
    const names = Object.keys(send) as Array<keyof typeof send>;
    for (const round of [1, 2]) {
      const outcomes = await Promise.all(names.map((name) => attempt<{ sequence: number }>(send[name]())));
      const lines = outcomes.map((o, i) => `${names[i]}=${o.ok ? "OK" : codeName(o.code)} in ${Math.round(o.ms)} ms`);
      log(`while down (wave ${round}): ${lines.join(", ")}`);
      for (const [i, o] of outcomes.entries()) {
        expect(o.ok ? "OK" : codeName(o.code), `${names[i]}: ${o.ok ? "" : o.details}`).toBe("UNAVAILABLE");
        // Reported by the ledger's own bounded wait on NATS, not by the caller's deadline.
        expect(o.ms).toBeLessThan(DEADLINE_MS - 3_000);
      }
      if (round === 1) await sleep(1_000);
    }
    // Reads keep being answered from the read model; one that needs a newer sequence fails closed.
    expect((await api.introspection.introspect({ token: t1.accessToken })).active).toBe(true);
    const stale = await attempt(api.introspection.introspect({ token: t1.accessToken, minSequence: headBefore + 1 }));
    expect(stale.ok ? "OK" : codeName(stale.code)).toBe("UNAVAILABLE");

    // ---- NATS comes back on the same store: the ledger reconnects on its own ---------------------
    await nats.restart();
    const backAt = Date.now();
    const probeId = rid();
    const probe = { requestId: probeId, ownerAccount: "acct-o", name: "Probe app", redirectUris: ["https://o.example/cb"], allowedScopes: ["zone:read"], clientType: ClientType.CLIENT_TYPE_PUBLIC };
    let probeOutcome: Outcome<{ sequence: number; clientId: string }> | undefined;
    let probes = 0;
    while (Date.now() - backAt < 30_000) {
      probes++;
      // The same request_id every time: failed probes must not add messages either.
      probeOutcome = await attempt(api.clients.registerClient(probe, md));
      if (probeOutcome.ok) break;
      expect(codeName(probeOutcome.code), probeOutcome.details).toBe("UNAVAILABLE");
      await sleep(200);
    }
    expect(probeOutcome?.ok).toBe(true);
    acked.add(probeId);
    log(`nats-server back after ${backAt - downAt} ms down; first command served ${Date.now() - backAt} ms later (${probes} probes, same request_id)`);

    // Nothing half-written: the stream holds exactly the acknowledged commands' messages.
    const audit = await auditLog(nats.url);
    try {
      const messages = await readWholeLog(audit);
      const inLog = messages.map((m) => m.requestId);
      expect(new Set(inLog).size).toBe(inLog.length);
      expect(new Set(inLog)).toEqual(acked);
      log(`stream after the outage: ${messages.length} messages, all from the ${acked.size} acknowledged commands; none from the ${names.length} commands refused during it`);

      // The refused commands, retried with their request ids, now go through once each.
      for (const name of names) {
        const o = await attempt<{ sequence: number }>(send[name]());
        expect(o.ok, `${name} retry: ${o.ok ? "" : o.details}`).toBe(true);
        acked.add(wave[name].requestId);
      }
      const after = await readWholeLog(audit);
      expect(after.map((m) => m.requestId).sort()).toEqual([...acked].sort());

      // The projection followed through the outage: read-your-writes works again.
      r = rid();
      const t2 = await api.tokens.issueTokens({ requestId: r, grantId: g1.grantId, scopes: [], includeRefreshToken: false }, md);
      expect((await api.introspection.introspect({ token: t2.accessToken, minSequence: t2.sequence })).active).toBe(true);
      const revoked = await api.revocation.revokeGrant({ requestId: rid(), grantId: g1.grantId, reason: "after outage" }, md);
      expect((await api.introspection.introspect({ token: t2.accessToken, minSequence: revoked.sequence })).active).toBe(false);
      expect(ledger.ledger.projection.running).toBe(true);
      expect(ledger.ledger.projection.appliedSeq).toBe(await audit.headSequence());
      log(`after recovery: retries of the refused commands appended once each, issue → introspect active, revoke → introspect inactive; projection at ${ledger.ledger.projection.appliedSeq} = head`);
      // No INTERNAL was logged by the ledger through all of it.
      const internal = ledger.logs.lines.filter((line) => line.includes('"grpcCode":13'));
      expect(internal).toEqual([]);
      expect(status.UNAVAILABLE).toBe(14);
    } finally {
      await audit.close();
    }
  });
});
