import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isDomainError } from "../../services/domain/shared/errors.js";
import type { AppendRequest, AppendResult, JetStreamEventLog } from "../../services/eventlog/index.js";
import { ClientType } from "../../services/gen/grantledger/v1/client_service.js";
import { actor, connectClients, type LedgerClients } from "../support/grpc-clients.js";
import { startTestLedger, type TestLedger } from "../support/ledger.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { attempt, auditLog, brokenLink, grantRef, say, sharedHashKey, Tally, type Outcome } from "../support/fault-kit.js";

const log = say("occ");

interface AppendCounts {
  appends: number;
  conflicts: number;
  duplicates: number;
}

/** Counts what one ledger's command handlers got back from the log (they call `log.append`). */
function countAppends(ledger: TestLedger): AppendCounts {
  const counts: AppendCounts = { appends: 0, conflicts: 0, duplicates: 0 };
  const target = ledger.ledger.log as { append: (r: AppendRequest) => Promise<AppendResult> };
  const original = target.append.bind(target);
  target.append = async (request) => {
    try {
      const result = await original(request);
      if (result.duplicate) counts.duplicates++;
      else counts.appends++;
      return result;
    } catch (error) {
      if (isDomainError(error) && error.kind === "conflict") counts.conflicts++;
      throw error;
    }
  };
  return counts;
}

interface Pair {
  ledgers: [TestLedger, TestLedger];
  apis: [LedgerClients, LedgerClients];
  counts: [AppendCounts, AppendCounts];
  stop(): Promise<void>;
}

async function startPair(natsUrl: string, hashKey: string, commandRetries: number): Promise<Pair> {
  const a = await startTestLedger(natsUrl, { tokenHashKey: hashKey, commandRetries });
  const b = await startTestLedger(natsUrl, { tokenHashKey: hashKey, commandRetries });
  const apis: [LedgerClients, LedgerClients] = [connectClients(a.address), connectClients(b.address)];
  return {
    ledgers: [a, b],
    apis,
    counts: [countAppends(a), countAppends(b)],
    async stop() {
      apis.forEach((api) => api.close());
      await Promise.all([a.stop(), b.stop()]);
    },
  };
}

describe("two command processes hammering one grant", () => {
  let nats: NatsServer;
  let audit: JetStreamEventLog;
  const hashKey = sharedHashKey();

  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(async () => {
    await audit?.close();
    await nats?.stop();
  });

  const hammer = async (pair: Pair, label: string, workers: number, opsPerWorker: number) => {
    const md = actor("occ-test");
    const [api0] = pair.apis;
    const client = await api0.clients.registerClient(
      { requestId: randomUUID(), ownerAccount: "acct-occ", name: "OCC app", redirectUris: ["https://occ.example/cb"], allowedScopes: ["zone:read", "dns:read"], clientType: ClientType.CLIENT_TYPE_PUBLIC },
      md,
    );
    const grant = await api0.grants.createGrant({ requestId: randomUUID(), subject: "u-occ", clientId: client.clientId, scopes: ["zone:read", "dns:read"], resources: [] }, md);
    // Both processes know the grant (the second via its projection) before the race starts.
    await pair.apis[1].grants.getGrant({ grantId: grant.grantId, minSequence: grant.sequence });
    const before = pair.counts.map((c) => ({ ...c }));

    const issued: Array<{ token: string; tokenId: string }> = [];
    const issues = new Tally();
    const revokes = new Tally();
    const results: Array<{ kind: "issue" | "revoke"; requestId: string; outcome: Outcome<{ sequence: number }> }> = [];
    const started = Date.now();
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        for (let i = 0; i < opsPerWorker; i++) {
          const api = pair.apis[(w + i) % 2] as LedgerClients;
          const requestId = randomUUID();
          const victim = issued[Math.floor(Math.random() * issued.length)];
          if (victim !== undefined && Math.random() < 0.3) {
            const outcome = await attempt(api.revocation.revokeToken({ requestId, token: victim.token }, md));
            revokes.add(outcome);
            results.push({ kind: "revoke", requestId, outcome });
          } else {
            const outcome = await attempt(api.tokens.issueTokens({ requestId, grantId: grant.grantId, scopes: ["zone:read"], includeRefreshToken: i % 3 === 0 }, md));
            issues.add(outcome);
            results.push({ kind: "issue", requestId, outcome });
            if (outcome.ok) issued.push({ token: outcome.value.accessToken, tokenId: outcome.value.accessTokenId });
          }
        }
      }),
    );
    const conflicts = pair.counts.map((c, i) => c.conflicts - (before[i] as AppendCounts).conflicts);
    const appends = pair.counts.map((c, i) => c.appends - (before[i] as AppendCounts).appends);
    log(`${label}: ${workers} workers × ${opsPerWorker} ops over two ledgers in ${Date.now() - started} ms`);
    log(`${label}: IssueTokens ${issues.toString()}; RevokeToken ${revokes.toString()}`);
    log(`${label}: appends per ledger ${appends.join(" + ")}, OCC conflicts per ledger ${conflicts.join(" + ")} (each one re-decided, or ABORTED when retries ran out)`);

    // Only success or ABORTED, never INTERNAL or anything else.
    for (const r of results) if (!r.outcome.ok) expect(r.outcome.code, r.outcome.details).toBe(10 /* ABORTED */);

    // One chain: every message's prev is the previous message's hash (never two appends on one version).
    const messages = await audit.readAggregate(grantRef(grant.grantId));
    expect(brokenLink(messages)).toBe(-1);
    const byRequest = new Map(messages.map((m) => [m.requestId, m]));
    expect(byRequest.size).toBe(messages.length);
    for (const r of results) {
      const message = byRequest.get(r.requestId);
      if (!r.outcome.ok) expect(message, `ABORTED ${r.kind} appended nothing`).toBeUndefined();
      else if (r.outcome.value.sequence === 0) expect(message).toBeUndefined();
      else expect(message?.seq).toBe(r.outcome.value.sequence);
    }
    const acknowledgedMessages = results.filter((r) => r.outcome.ok && r.outcome.value.sequence > 0).length;
    expect(messages.length).toBe(1 + acknowledgedMessages);
    expect(appends.reduce((x, y) => x + y, 0)).toBe(acknowledgedMessages);
    log(`${label}: grant has ${messages.length} messages in one unbroken prev→hash chain; every acknowledged command is exactly its own message`);

    // Both read models agree on every token.
    const head = await audit.headSequence();
    let disagreements = 0;
    for (const t of issued.slice(0, 60)) {
      const [x, y] = await Promise.all(pair.apis.map((api) => api.introspection.introspect({ token: t.token, minSequence: head })));
      if (x?.active !== y?.active) disagreements++;
    }
    expect(disagreements).toBe(0);
    return { conflicts: conflicts.reduce((x, y) => x + y, 0), aborted: issues.get("ABORTED") + revokes.get("ABORTED"), total: results.length };
  };

  it("with retries: conflicts are re-decided (success, or ABORTED once retries run out; never INTERNAL), on one hash chain", { timeout: 60_000 }, async () => {
    const pair = await startPair(nats.url, hashKey, 8);
    // The first ledger created the stream; an auditor connects to it.
    audit ??= await auditLog(nats.url);
    try {
      const { conflicts, aborted, total } = await hammer(pair, "retries=8", 8, 25);
      // An ABORTED command used up 1 + 8 conflicts; every other conflict was re-decided into a success.
      const redecided = conflicts - aborted * 9;
      log(`retries=8: ${redecided} conflicts re-decided into a success; ${aborted}/${total} commands ran out of retries (ABORTED)`);
      expect(redecided).toBeGreaterThan(0);
      expect(aborted).toBeLessThan(total / 2);
    } finally {
      await pair.stop();
    }
  });

  it("without retries: a lost race is ABORTED, appends nothing, and the chain stays single", { timeout: 60_000 }, async () => {
    const pair = await startPair(nats.url, hashKey, 0);
    audit ??= await auditLog(nats.url);
    try {
      const { conflicts, aborted } = await hammer(pair, "retries=0", 8, 15);
      expect(conflicts).toBeGreaterThan(0);
      expect(aborted).toBeGreaterThan(0);
    } finally {
      await pair.stop();
    }
  });
});
