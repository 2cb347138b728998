import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientAndGrant, issue } from "../../support/e2e-harness.js";
import { actor, connectClients, type LedgerClients } from "../../support/grpc-clients.js";
import { connectHealth } from "../../support/health.js";
import { spawnLedgerProcess, type LedgerProcess } from "../../support/ledger.js";
import { startNatsServer, type NatsServer } from "../../support/nats-server.js";
import { attempt, say, sharedHashKey } from "../../support/fault-kit.js";

const log = say("roles");

/**
 * Roles as processes on one data dir: one projector (with the checkpointer), one commands process
 * and two introspection-only processes, all three serving roles reading the projector's SQLite file
 * read-only and following its checkpoint for min_sequence.
 */
describe("roles as processes: one projector, two introspection replicas on its file (fail closed when it dies)", () => {
  let nats: NatsServer;
  let dataDir: string;
  const processes: LedgerProcess[] = [];
  const clients: LedgerClients[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    dataDir = await mkdtemp(join(tmpdir(), "gl-roles-"));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const p of processes) await p.kill("SIGTERM");
    await nats?.stop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  it("answers introspection correctly for min_sequence from processes that only read the projector's file", { timeout: 120_000 }, async () => {
    const env = { GL_TOKEN_HASH_KEY: sharedHashKey(), GL_MAX_STALENESS_MS: "3000" };
    const started = Date.now();
    const projector = await spawnLedgerProcess(nats.url, dataDir, { ...env, GL_ROLES: "projector,checkpointer" });
    processes.push(projector);
    const [commands, replicaA, replicaB] = await Promise.all([
      spawnLedgerProcess(nats.url, dataDir, { ...env, GL_ROLES: "commands" }),
      spawnLedgerProcess(nats.url, dataDir, { ...env, GL_ROLES: "introspection" }),
      spawnLedgerProcess(nats.url, dataDir, { ...env, GL_ROLES: "introspection" }),
    ]);
    processes.push(commands, replicaA, replicaB);
    log(`4 processes serving after ${Date.now() - started} ms`);
    for (const p of [commands, replicaA, replicaB]) expect(p.output()).toContain('"mode":"reader"');
    expect(projector.output()).toContain('"mode":"projector"');

    const write = connectClients(commands.address);
    const replicas = [connectClients(replicaA.address), connectClients(replicaB.address)];
    clients.push(write, ...replicas);

    // Each process serves only its roles' services, and health lists exactly those.
    const health = connectHealth(replicaA.address);
    try {
      expect(await health.check("grantledger.v1.IntrospectionService")).toBe("SERVING");
      await expect(health.check("grantledger.v1.ClientService")).rejects.toMatchObject({ code: status.NOT_FOUND });
    } finally {
      health.close();
    }
    const wrongRole = await attempt(write.introspection.introspect({ token: "x" }));
    expect(wrongRole.ok ? "OK" : wrongRole.code).toBe(status.UNIMPLEMENTED);

    const md = actor("roles-test");
    let checks = 0;
    for (let round = 0; round < 10; round++) {
      const f = await clientAndGrant(write);
      const t = await issue(write, f.grantId, { refresh: true });
      for (const replica of replicas) {
        const answer = await replica.introspection.introspect({ token: t.accessToken, minSequence: t.sequence });
        expect(answer).toMatchObject({ active: true, grantId: f.grantId, clientId: f.clientId, sub: f.subject });
        checks++;
      }
      const revoked = await write.revocation.revokeGrant({ requestId: randomUUID(), grantId: f.grantId, reason: "round" }, md);
      for (const replica of replicas) {
        for (const token of [t.accessToken, t.refreshToken]) {
          expect((await replica.introspection.introspect({ token, minSequence: revoked.sequence })).active).toBe(false);
          checks++;
        }
      }
    }
    log(`${checks} introspections on 2 replicas, each read-your-writes through the projector's file: all correct`);

    // A min_sequence beyond the log's head fails closed after the bounded wait.
    const beyond = await attempt(replicas[0]!.introspection.introspect({ token: "x", minSequence: 1_000_000 }));
    expect(beyond.ok ? "OK" : beyond.code).toBe(status.UNAVAILABLE);

    // The projector dies while writes go on: the replicas cannot confirm they are within the bound,
    // fail closed, and serve again once a projector runs on the file again.
    const f = await clientAndGrant(write);
    const t = await issue(write, f.grantId, { refresh: false });
    for (const replica of replicas) expect((await replica.introspection.introspect({ token: t.accessToken, minSequence: t.sequence })).active).toBe(true);
    await projector.kill("SIGKILL");
    const killedAt = Date.now();
    const revoked = await write.revocation.revokeGrant({ requestId: randomUUID(), grantId: f.grantId, reason: "projector down" }, md);
    const closedAfter: number[] = [];
    for (const replica of replicas) {
      for (;;) {
        const o = await attempt(replica.introspection.introspect({ token: t.accessToken }));
        if (!o.ok) {
          expect(o.code, o.details).toBe(status.UNAVAILABLE);
          closedAfter.push(Date.now() - killedAt);
          break;
        }
        // Still within the bound, answering from the last state it could confirm.
        expect(Date.now() - killedAt).toBeLessThan(3_000 + 500);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const replicaHealth = connectHealth(replicaB.address);
    try {
      expect(await replicaHealth.check("grantledger.v1.IntrospectionService")).toBe("NOT_SERVING");
      const restarted = await spawnLedgerProcess(nats.url, dataDir, { ...env, GL_ROLES: "projector,checkpointer" });
      processes.push(restarted);
      const restartedAt = Date.now();
      for (const replica of replicas) {
        expect((await replica.introspection.introspect({ token: t.accessToken, minSequence: revoked.sequence })).active).toBe(false);
      }
      expect(await replicaHealth.check("grantledger.v1.IntrospectionService")).toBe("SERVING");
      log(`projector killed: replicas UNAVAILABLE after ${closedAfter.join(" / ")} ms (bound 3000); a new projector made them serve again, revocation seen, ${Date.now() - restartedAt} ms after it started`);
    } finally {
      replicaHealth.close();
    }
  });
});
