import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientType } from "../../services/gen/grantledger/v1/client_service.js";
import { GrantStatus } from "../../services/gen/grantledger/v1/grant_service.js";
import type { JetStreamEventLog, RecordedEnvelope } from "../../services/eventlog/index.js";
import { actor, connectClients, type LedgerClients } from "../support/grpc-clients.js";
import { spawnLedgerProcess, type LedgerProcess } from "../support/ledger.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { attempt, auditLog, codeName, countLog, countReadModel, readModelImpliedBy, readWholeLog, say, sleep, Tally, type Outcome } from "../support/fault-kit.js";

const log = say("kill-9");
const ACTOR = "kill-load";
const WORKERS = 8;
/** Acknowledged commands before the kill. */
const ACKED_BEFORE_KILL = 250;

type Kind = "RegisterClient" | "CreateGrant" | "IssueTokens" | "RevokeToken" | "RevokeGrant";

/** One command the load sent: its request (with request_id), and what came back. */
interface Sent {
  kind: Kind;
  request: { requestId: string } & Record<string, unknown>;
  outcome?: Outcome<{ sequence: number } & Record<string, unknown>>;
}

type Response = { sequence: number } & Record<string, unknown>;
const widen = (call: Promise<object>): Promise<Response> => call as Promise<Response>;

function send(api: LedgerClients, kind: Kind, request: Sent["request"]): Promise<Response> {
  const md = actor(ACTOR);
  switch (kind) {
    case "RegisterClient":
      return widen(api.clients.registerClient(request as never, md));
    case "CreateGrant":
      return widen(api.grants.createGrant(request as never, md));
    case "IssueTokens":
      return widen(api.tokens.issueTokens(request as never, md));
    case "RevokeToken":
      return widen(api.revocation.revokeToken(request as never, md));
    case "RevokeGrant":
      return widen(api.revocation.revokeGrant(request as never, md));
  }
}

describe("kill -9 of the ledger mid-load, then restart on the same data dir", () => {
  let nats: NatsServer;
  let dataDir: string;
  let first: LedgerProcess | undefined;
  let second: LedgerProcess | undefined;
  let audit: JetStreamEventLog;

  beforeAll(async () => {
    nats = await startNatsServer();
    dataDir = await mkdtemp(join(tmpdir(), "gl-fault-kill-"));
  });
  afterAll(async () => {
    await audit?.close();
    await first?.kill("SIGKILL");
    await second?.kill("SIGKILL");
    await nats?.stop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  it("keeps every acknowledged command, applies every message once, and dedupes retries", { timeout: 120_000 }, async () => {
    first = await spawnLedgerProcess(nats.url, dataDir);
    const api = connectClients(first.address, 5_000);
    const sent: Sent[] = [];
    const clients: string[] = [];
    const grants: string[] = [];
    const tokens: Array<{ token: string; grantId: string }> = [];
    const pick = <T>(list: readonly T[]): T | undefined => list[Math.floor(Math.random() * list.length)];
    let killed = false;
    let acked = 0;
    const beforeKill = new Tally();

    const next = (): Sent => {
      const requestId = randomUUID();
      const r = Math.random();
      const clientId = pick(clients);
      const grantId = pick(grants);
      const token = pick(tokens);
      if (clientId === undefined || r < 0.1) {
        return {
          kind: "RegisterClient",
          request: { requestId, ownerAccount: "acct-kill", name: "Kill app", redirectUris: ["https://kill.example/cb"], allowedScopes: ["zone:read", "dns:read"], clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL },
        };
      }
      if (grantId === undefined || r < 0.3) {
        return { kind: "CreateGrant", request: { requestId, subject: `user-${Math.floor(Math.random() * 50)}`, clientId, scopes: ["zone:read", "dns:read"], resources: ["acct:1"] } };
      }
      if (token !== undefined && r < 0.4) return { kind: "RevokeToken", request: { requestId, token: token.token } };
      if (r < 0.45) return { kind: "RevokeGrant", request: { requestId, grantId, reason: "load" } };
      return { kind: "IssueTokens", request: { requestId, grantId, scopes: ["zone:read"], includeRefreshToken: r < 0.7 } };
    };

    const worker = async (): Promise<void> => {
      while (!killed) {
        const command = next();
        sent.push(command);
        command.outcome = await attempt(send(api, command.kind, command.request));
        if (!killed) beforeKill.add(command.outcome);
        if (!command.outcome.ok) continue;
        acked++;
        const v = command.outcome.value;
        if (command.kind === "RegisterClient") clients.push(v["clientId"] as string);
        if (command.kind === "CreateGrant") grants.push(v["grantId"] as string);
        if (command.kind === "IssueTokens") {
          tokens.push({ token: v["accessToken"] as string, grantId: command.request["grantId"] as string });
          if (v["refreshToken"] !== "") tokens.push({ token: v["refreshToken"] as string, grantId: command.request["grantId"] as string });
        }
      }
    };
    const load = Array.from({ length: WORKERS }, worker);
    const loadStarted = Date.now();
    while (acked < ACKED_BEFORE_KILL) await sleep(5);
    const inFlightAtKill = sent.filter((s) => s.outcome === undefined).length;
    killed = true;
    await first.kill("SIGKILL");
    await Promise.all(load);
    api.close();
    log(`load: ${WORKERS} workers, ${acked} acknowledged in ${Date.now() - loadStarted} ms, SIGKILL with ${inFlightAtKill} commands in flight`);
    log(`outcomes before the kill: ${beforeKill.toString()}`);
    // Before the kill only domain rejections happen (e.g. IssueTokens on a revoked grant), never INTERNAL.
    expect(beforeKill.get("INTERNAL") + beforeKill.get("UNKNOWN")).toBe(0);

    const ackedCommands = sent.filter((s) => s.outcome?.ok === true);
    const unacked = sent.filter((s) => s.outcome !== undefined && !s.outcome.ok && [status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED, status.INTERNAL].includes(s.outcome.code));
    log(`unacknowledged (cut off by the kill): ${unacked.length} (${[...new Set(unacked.map((u) => (u.outcome?.ok === false ? codeName(u.outcome.code) : "")))].join(", ")})`);

    // ---- the file as the crash left it: a prefix of the log, exactly ----------------------------
    audit = await auditLog(nats.url);
    const atCrash = await readWholeLog(audit);
    const crashed = countReadModel(dataDir);
    const prefix = countLog(atCrash.filter((e) => e.seq <= crashed.checkpoint));
    log(`at the crash: log head ${atCrash.at(-1)?.seq}, read model checkpoint ${crashed.checkpoint}`);
    expect(crashed.checkpoint).toBeLessThanOrEqual(atCrash.at(-1)?.seq ?? 0);
    expect({ clients: crashed.clients, grants: crashed.grants, tokens: crashed.tokens, revokedGrants: crashed.revokedGrants, beyond: crashed.beyondCheckpoint }).toEqual({
      clients: prefix.clients,
      grants: prefix.grants,
      tokens: prefix.tokens,
      revokedGrants: prefix.revokedGrants,
      beyond: 0,
    });

    // Every acknowledged command's sequence is its own message in the log.
    const bySeq = new Map(atCrash.map((e) => [e.seq, e]));
    for (const command of ackedCommands) {
      const outcome = command.outcome as { ok: true; value: { sequence: number } };
      if (outcome.value.sequence === 0) continue; // RFC 7009: revoking an already inactive token appends nothing
      const message = bySeq.get(outcome.value.sequence);
      expect(message?.requestId, `${command.kind} ${command.request.requestId}`).toBe(command.request.requestId);
      expect(message?.actor).toBe(ACTOR);
    }
    const landedUnacked = unacked.filter((u) => atCrash.some((e) => e.requestId === u.request.requestId));
    log(`unacknowledged commands whose message had landed before the kill: ${landedUnacked.length}`);

    // ---- restart on the same data dir ------------------------------------------------------------
    const restartAt = Date.now();
    second = await spawnLedgerProcess(nats.url, dataDir);
    const api2 = connectClients(second.address, 15_000);
    const head = atCrash.at(-1)?.seq ?? 0;
    // Read-your-writes at the head: the restarted projection caught up from its checkpoint.
    await api2.clients.getClient({ clientId: clients[0] as string, minSequence: head });
    log(`restarted and caught up to ${head} in ${Date.now() - restartAt} ms (from checkpoint ${crashed.checkpoint})`);

    // Every acknowledged command's effect is in the read model.
    const revokedGrants = new Set<string>();
    const revokedTokenIds = new Set<string>();
    const revokedFamilies = new Set<string>();
    for (const e of atCrash) {
      for (const ev of e.events) {
        if (ev.type === "grant.revoked") revokedGrants.add(ev.data.grantId);
        if (ev.type === "token.revoked") {
          ev.data.tokenIds.forEach((id) => revokedTokenIds.add(id));
          ev.data.familyIds.forEach((id) => revokedFamilies.add(id));
        }
      }
    }
    const issuedById = new Map<string, { familyId: string; grantId: string }>();
    for (const e of atCrash) for (const ev of e.events) if (ev.type === "token.issued") for (const t of ev.data.tokens) issuedById.set(t.tokenId, { familyId: t.familyId, grantId: ev.data.grantId });
    const shouldBeActive = (tokenId: string): boolean => {
      const t = issuedById.get(tokenId);
      return t !== undefined && !revokedGrants.has(t.grantId) && !revokedTokenIds.has(tokenId) && !revokedFamilies.has(t.familyId);
    };
    let checkedEffects = 0;
    for (const command of ackedCommands) {
      const v = (command.outcome as { ok: true; value: Record<string, unknown> & { sequence: number } }).value;
      const minSequence = v.sequence;
      switch (command.kind) {
        case "RegisterClient": {
          const { client } = await api2.clients.getClient({ clientId: v["clientId"] as string, minSequence });
          expect(client?.sequence).toBeGreaterThanOrEqual(v.sequence);
          break;
        }
        case "CreateGrant": {
          const { grant } = await api2.grants.getGrant({ grantId: v["grantId"] as string, minSequence });
          expect(grant?.status).toBe(revokedGrants.has(v["grantId"] as string) ? GrantStatus.GRANT_STATUS_REVOKED : GrantStatus.GRANT_STATUS_ACTIVE);
          break;
        }
        case "RevokeGrant": {
          const { grant } = await api2.grants.getGrant({ grantId: command.request["grantId"] as string, minSequence });
          expect(grant?.status).toBe(GrantStatus.GRANT_STATUS_REVOKED);
          break;
        }
        case "IssueTokens": {
          for (const [token, id] of [
            [v["accessToken"], v["accessTokenId"]],
            [v["refreshToken"], v["refreshTokenId"]],
          ] as Array<[string, string]>) {
            if (token === "") continue;
            const answer = await api2.introspection.introspect({ token, minSequence });
            expect(answer.active, `token ${id}`).toBe(shouldBeActive(id));
          }
          break;
        }
        case "RevokeToken": {
          const answer = await api2.introspection.introspect({ token: command.request["token"] as string, minSequence: head });
          expect(answer.active).toBe(false);
          break;
        }
      }
      checkedEffects++;
    }
    log(`checked the read-model effect of all ${checkedEffects} acknowledged commands (GetClient/GetGrant/Introspect with min_sequence)`);

    // Exactly once: the file holds what the log holds, no more, no less; the checkpoint is the head.
    const expectOnce = (envelopes: RecordedEnvelope[], label: string): void => {
      const fromLog = countLog(envelopes);
      const file = countReadModel(dataDir);
      log(`${label}: log head ${fromLog.head} → clients ${fromLog.clients}, grants ${fromLog.grants} (${fromLog.revokedGrants} revoked), tokens ${fromLog.tokens}; file checkpoint ${file.checkpoint} → clients ${file.clients}, grants ${file.grants} (${file.revokedGrants} revoked), tokens ${file.tokens} (${file.distinctTokenIds} distinct ids)`);
      expect(file).toEqual(readModelImpliedBy(fromLog));
      expect(new Set(fromLog.tokenIds).size).toBe(fromLog.tokenIds.length);
    };
    expectOnce(atCrash, "after restart");

    // ---- retry every unacknowledged command with its original request_id --------------------------
    const retries = new Tally();
    let sameAnswer = 0;
    for (const command of unacked) {
      const outcome = await attempt(send(api2, command.kind, command.request));
      retries.add(outcome);
      expect(outcome.ok || [status.FAILED_PRECONDITION, status.NOT_FOUND].includes(outcome.code), outcome.ok ? "" : outcome.details).toBe(true);
      const landed = atCrash.find((e) => e.requestId === command.request.requestId);
      if (landed !== undefined) {
        // Its first attempt had landed: the retry answers with that very message.
        expect(outcome.ok && outcome.value.sequence, `${command.kind} retry`).toBe(landed.seq);
        sameAnswer++;
      }
    }
    const afterRetries = await readWholeLog(audit);
    for (const command of unacked) {
      const messages = afterRetries.filter((e) => e.requestId === command.request.requestId);
      expect(messages.length, `${command.kind} ${command.request.requestId}`).toBeLessThanOrEqual(1);
    }
    log(`retried ${unacked.length} unacknowledged commands with their request_id: ${retries.toString()}; ${sameAnswer} had landed and got their original sequence back; each has at most one message in the log`);
    await api2.clients.getClient({ clientId: clients[0] as string, minSequence: afterRetries.at(-1)?.seq ?? 0 });
    expectOnce(afterRetries, "after retries");
    api2.close();
  });
});
