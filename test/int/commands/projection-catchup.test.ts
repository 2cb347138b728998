import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JetStreamEventLog } from "../../../services/eventlog/index.js";
import { ClientType } from "../../../services/gen/grantledger/v1/client_service.js";
import { actor, connectClients, type LedgerClients } from "../../support/grpc-clients.js";
import { spawnLedgerProcess, startTestLedger, type LedgerProcess } from "../../support/ledger.js";
import { startNatsServer, type NatsServer } from "../../support/nats-server.js";
import { attempt, auditLog, codeName, countLog, countReadModel, readModelImpliedBy, readWholeLog, say, sharedHashKey } from "../../support/fault-kit.js";

const log = say("append-then-crash");
const md = actor("catchup-test");

/** Registers a client and a grant, issues `n` token pairs and revokes every third grant it creates. */
async function appendCommands(api: LedgerClients, n: number): Promise<{ tokens: Array<{ token: string; grantId: string }>; revokedGrants: Set<string>; lastSeq: number }> {
  const client = await api.clients.registerClient(
    { requestId: randomUUID(), ownerAccount: "acct-c", name: "Catch-up app", redirectUris: ["https://c.example/cb"], allowedScopes: ["zone:read"], clientType: ClientType.CLIENT_TYPE_PUBLIC },
    md,
  );
  const tokens: Array<{ token: string; grantId: string }> = [];
  const revokedGrants = new Set<string>();
  let lastSeq = client.sequence;
  for (let g = 0; g < n / 5; g++) {
    const grant = await api.grants.createGrant({ requestId: randomUUID(), subject: `u-${g}`, clientId: client.clientId, scopes: ["zone:read"], resources: [] }, md);
    const issued = await Promise.all(
      Array.from({ length: 5 }, () => api.tokens.issueTokens({ requestId: randomUUID(), grantId: grant.grantId, scopes: [], includeRefreshToken: true }, md)),
    );
    for (const i of issued) tokens.push({ token: i.accessToken, grantId: grant.grantId }, { token: i.refreshToken, grantId: grant.grantId });
    lastSeq = Math.max(lastSeq, ...issued.map((i) => i.sequence));
    if (g % 3 === 0) {
      lastSeq = (await api.revocation.revokeGrant({ requestId: randomUUID(), grantId: grant.grantId, reason: "catch-up" }, md)).sequence;
      revokedGrants.add(grant.grantId);
    }
  }
  return { tokens, revokedGrants, lastSeq };
}

describe("commands appended while the read model is not applying them", () => {
  let nats: NatsServer;
  let audit: JetStreamEventLog;
  const dirs: string[] = [];
  const hashKey = sharedHashKey();
  let crashed: LedgerProcess | undefined;

  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(async () => {
    await audit?.close();
    await crashed?.kill("SIGKILL");
    await nats?.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), "gl-catchup-"));
    dirs.push(dir);
    return dir;
  };

  /** The read model file of `dataDir` holds exactly what the log holds: each message applied once. */
  const expectExactlyOnce = async (dataDir: string, label: string): Promise<void> => {
    const fromLog = countLog(await readWholeLog(audit));
    const file = countReadModel(dataDir);
    log(`${label}: log head ${fromLog.head} (grants ${fromLog.grants}, revoked ${fromLog.revokedGrants}, tokens ${fromLog.tokens}); file checkpoint ${file.checkpoint} (grants ${file.grants}, revoked ${file.revokedGrants}, tokens ${file.tokens})`);
    expect(file).toEqual(readModelImpliedBy(fromLog));
  };

  it("projection stopped in a live ledger: queries fail closed, a restart catches up with every event once", { timeout: 60_000 }, async () => {
    const dataDir = await tempDir();
    const first = await startTestLedger(nats.url, { dataDir, tokenHashKey: hashKey, minSequenceWaitMs: 500 });
    audit ??= await auditLog(nats.url);
    const api = connectClients(first.address);
    const before = await appendCommands(api, 10);
    await first.ledger.projection.stop();
    const stoppedAt = first.ledger.projection.appliedSeq;
    const during = await appendCommands(api, 30);
    expect(countReadModel(dataDir).checkpoint).toBe(stoppedAt);
    // Read-your-writes cannot be honoured: UNAVAILABLE after the bounded wait, not a stale answer.
    const waited = await attempt(api.introspection.introspect({ token: during.tokens[0]?.token as string, minSequence: during.lastSeq }));
    expect(waited.ok ? "OK" : codeName(waited.code)).toBe("UNAVAILABLE");
    expect(waited.ms).toBeLessThan(3_000);
    // Revocation needs the read model at the head to find a token: it fails closed too.
    const revoke = await attempt(api.revocation.revokeToken({ requestId: randomUUID(), token: before.tokens[0]?.token as string }, md));
    expect(revoke.ok ? "OK" : codeName(revoke.code)).toBe("UNAVAILABLE");
    log(`projection stopped at ${stoppedAt}; ${during.tokens.length / 2} IssueTokens + ${during.revokedGrants.size} RevokeGrant appended after it (head ${during.lastSeq}); Introspect(min_sequence) → UNAVAILABLE in ${Math.round(waited.ms)} ms; RevokeToken → UNAVAILABLE`);
    api.close();
    await first.stop();

    const second = await startTestLedger(nats.url, { dataDir, tokenHashKey: hashKey });
    const api2 = connectClients(second.address);
    try {
      for (const { token, grantId } of [...before.tokens, ...during.tokens]) {
        const answer = await api2.introspection.introspect({ token, minSequence: during.lastSeq });
        expect(answer.active).toBe(!before.revokedGrants.has(grantId) && !during.revokedGrants.has(grantId));
      }
      await expectExactlyOnce(dataDir, "after restart");
    } finally {
      api2.close();
      await second.stop();
    }
  });

  it("ledger frozen, others append, then kill -9 and restart: the read model catches up with every event once", { timeout: 90_000 }, async () => {
    const dataDir = await tempDir();
    crashed = await spawnLedgerProcess(nats.url, dataDir, { GL_TOKEN_HASH_KEY: hashKey });
    audit ??= await auditLog(nats.url);
    const api = connectClients(crashed.address);
    const own = await appendCommands(api, 10);
    await api.clients.listClients({ ownerAccount: "acct-c", minSequence: own.lastSeq });
    api.close();

    // Freeze it (its projection cannot apply anything), let another command process append, then kill it.
    crashed.child.kill("SIGSTOP");
    const frozenAt = countReadModel(dataDir).checkpoint;
    const other = await startTestLedger(nats.url, { dataDir: await tempDir(), tokenHashKey: hashKey });
    const otherApi = connectClients(other.address);
    const elsewhere = await appendCommands(otherApi, 40);
    otherApi.close();
    await other.stop();
    await crashed.kill("SIGKILL");
    const afterKill = countReadModel(dataDir);
    expect(afterKill.checkpoint).toBe(frozenAt);
    expect(afterKill.beyondCheckpoint).toBe(0);
    log(`frozen at checkpoint ${frozenAt}; another process appended up to ${elsewhere.lastSeq}; SIGKILL; the file still ends at ${afterKill.checkpoint}`);

    const startedAt = Date.now();
    crashed = await spawnLedgerProcess(nats.url, dataDir, { GL_TOKEN_HASH_KEY: hashKey });
    const api2 = connectClients(crashed.address);
    try {
      const all = [...own.tokens, ...elsewhere.tokens];
      for (const { token, grantId } of all) {
        const answer = await api2.introspection.introspect({ token, minSequence: elsewhere.lastSeq });
        expect(answer.active).toBe(!own.revokedGrants.has(grantId) && !elsewhere.revokedGrants.has(grantId));
      }
      log(`restarted, caught up in ${Date.now() - startedAt} ms; ${all.length} tokens introspected as the log says`);
      await expectExactlyOnce(dataDir, "after kill -9 and restart");
    } finally {
      api2.close();
      await crashed.kill("SIGKILL");
    }
  });
});
