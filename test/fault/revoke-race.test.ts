import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientType } from "../../services/gen/grantledger/v1/client_service.js";
import type { JetStreamEventLog } from "../../services/eventlog/index.js";
import { actor, connectClients, type LedgerClients } from "../support/grpc-clients.js";
import { spawnLedgerProcess, type LedgerProcess } from "../support/ledger.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { inParallel } from "../../scripts/bench/lib/ledger.js";
import { attempt, auditLog, brokenLink, codeName, grantRef, say, Tally } from "../support/fault-kit.js";

const log = say("revoke-race");
const ROUNDS = 200;
const PARALLEL_ROUNDS = 6;
const ISSUERS_PER_ROUND = 4;

describe("concurrent IssueTokens vs RevokeGrant on one grant", () => {
  let nats: NatsServer;
  let ledger: LedgerProcess;
  let dataDir: string;
  let api: LedgerClients;
  let audit: JetStreamEventLog;

  beforeAll(async () => {
    nats = await startNatsServer();
    dataDir = await mkdtemp(join(tmpdir(), "gl-fault-race-"));
    ledger = await spawnLedgerProcess(nats.url, dataDir, { LOG_LEVEL: "info" });
    api = connectClients(ledger.address);
    audit = await auditLog(nats.url);
  });

  afterAll(async () => {
    api?.close();
    await audit?.close();
    await ledger?.kill("SIGKILL");
    await nats?.stop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  it(`${ROUNDS} rounds: no token issued after the revocation, none active after it`, { timeout: 90_000 }, async () => {
    const md = actor("race-test");
    const started = Date.now();
    const client = await api.clients.registerClient(
      {
        requestId: randomUUID(),
        ownerAccount: "acct-race",
        name: "Race app",
        redirectUris: ["https://race.example/cb"],
        allowedScopes: ["zone:read", "dns:read"],
        clientType: ClientType.CLIENT_TYPE_PUBLIC,
      },
      md,
    );
    const issueOutcomes = new Tally();
    const revokeOutcomes = new Tally();
    let issuedBeforeRevoke = 0;
    let rejectedAfterRevoke = 0;
    let roundsWithBoth = 0;
    let introspected = 0;

    await inParallel(ROUNDS, PARALLEL_ROUNDS, async (round) => {
      const grant = await api.grants.createGrant(
        { requestId: randomUUID(), subject: `user-${round}`, clientId: client.clientId, scopes: ["zone:read", "dns:read"], resources: [`acct:${round}`] },
        md,
      );
      // A token issued well before the race: the revocation must take it down too.
      const early = await api.tokens.issueTokens({ requestId: randomUUID(), grantId: grant.grantId, scopes: [], includeRefreshToken: true }, md);

      const jitter = (): Promise<void> => new Promise((r) => setTimeout(r, Math.random() * 3));
      const issue = async () => {
        await jitter();
        return attempt(api.tokens.issueTokens({ requestId: randomUUID(), grantId: grant.grantId, scopes: ["zone:read"], includeRefreshToken: round % 2 === 0 }, md));
      };
      const revoke = async () => {
        // IssueTokens does more work before its append (outcome reservation, client and subject
        // reads) than RevokeGrant: delaying the revocation by 0-28 ms lets it land at every point.
        await new Promise((r) => setTimeout(r, (round % 20) * 1.5));
        return attempt(api.revocation.revokeGrant({ requestId: randomUUID(), grantId: grant.grantId, reason: `round ${round}` }, md));
      };
      const revokeAt = round % (ISSUERS_PER_ROUND + 1);
      const calls: Array<Promise<Awaited<ReturnType<typeof issue>> | Awaited<ReturnType<typeof revoke>>>> = [];
      for (let i = 0; i < ISSUERS_PER_ROUND; i++) {
        if (i === revokeAt) calls.push(revoke());
        calls.push(issue());
      }
      if (revokeAt === ISSUERS_PER_ROUND) calls.push(revoke());
      const outcomes = await Promise.all(calls);
      const revoked = outcomes[revokeAt] as Awaited<ReturnType<typeof revoke>>;
      const issues = outcomes.filter((_, i) => i !== revokeAt) as Array<Awaited<ReturnType<typeof issue>>>;

      revokeOutcomes.add(revoked);
      for (const o of issues) {
        issueOutcomes.add(o);
        // A losing IssueTokens is a clean rejection (or contention), never an internal error.
        if (!o.ok) expect([status.FAILED_PRECONDITION, status.ABORTED], `${codeName(o.code)}: ${o.details}`).toContain(o.code);
        if (!o.ok && o.code === status.FAILED_PRECONDITION) expect(o.details).toMatch(/invalid_grant/);
      }
      if (!revoked.ok) expect(revoked.code, revoked.details).toBe(status.ABORTED);

      const okIssues = issues.flatMap((o) => (o.ok ? [o.value] : []));
      const sequences = [grant.sequence, early.sequence, ...okIssues.map((o) => o.sequence)];
      if (revoked.ok) sequences.push(revoked.value.sequence);
      const maxSeq = Math.max(...sequences);

      // The log: the grant's messages form one chain, and nothing is issued after grant.revoked.
      const messages = await audit.readAggregate(grantRef(grant.grantId));
      expect(brokenLink(messages)).toBe(-1);
      const revokedAt = messages.findIndex((m) => m.events.some((e) => e.type === "grant.revoked"));
      const issuedSeqs = messages.filter((m) => m.events.some((e) => e.type === "token.issued")).map((m) => m.seq);
      // Every message in the log was acknowledged: nothing landed for a call that failed.
      expect(issuedSeqs.sort((a, b) => a - b)).toEqual([early.sequence, ...okIssues.map((o) => o.sequence)].sort((a, b) => a - b));
      if (revoked.ok) {
        expect(revokedAt).toBeGreaterThan(0);
        const revokedSeq = (messages[revokedAt] as { seq: number }).seq;
        expect(revokedSeq).toBe(revoked.value.sequence);
        for (const seq of issuedSeqs) expect(seq).toBeLessThan(revokedSeq);
        expect(messages.slice(revokedAt + 1).some((m) => m.events.some((e) => e.type === "token.issued"))).toBe(false);
        issuedBeforeRevoke += okIssues.length;
        rejectedAfterRevoke += issues.length - okIssues.length;
        if (okIssues.length > 0 && okIssues.length < issues.length) roundsWithBoth++;
      } else {
        expect(revokedAt).toBe(-1);
      }

      // The read model, read-your-writes at the highest sequence seen: every token is inactive.
      const tokens = [early.accessToken, early.refreshToken, ...okIssues.flatMap((o) => [o.accessToken, o.refreshToken])].filter((t) => t !== "");
      for (const token of tokens) {
        const answer = await api.introspection.introspect({ token, minSequence: maxSeq });
        introspected++;
        expect(answer.active, `token of round ${round} active after the revocation at ${maxSeq}`).toBe(!revoked.ok);
      }
    });

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    log(`${ROUNDS} rounds (${PARALLEL_ROUNDS} in parallel, ${ISSUERS_PER_ROUND} IssueTokens + 1 RevokeGrant each) in ${seconds}s`);
    log(`IssueTokens outcomes: ${issueOutcomes.toString()}; RevokeGrant outcomes: ${revokeOutcomes.toString()}`);
    log(`issued before the revocation: ${issuedBeforeRevoke}; rejected with invalid_grant after it: ${rejectedAfterRevoke}; rounds where the revocation landed between issues: ${roundsWithBoth}`);
    log(`checked: ${introspected} introspections with min_sequence → all inactive; every grant's log chain intact, no token.issued after grant.revoked`);
    expect(revokeOutcomes.get("OK")).toBeGreaterThan(ROUNDS * 0.9);
    // The race is real: both sides won in some rounds.
    expect(issuedBeforeRevoke).toBeGreaterThan(0);
    expect(rejectedAfterRevoke).toBeGreaterThan(0);
  });
});
