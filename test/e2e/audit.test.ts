import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AggregateKind,
  type AuditEvent,
  type EventFilter,
  type ReplayEventsResponse,
} from "../../services/gen/grantledger/v1/audit_service.js";
import { ClientType } from "../../services/gen/grantledger/v1/client_service.js";
import { GrantStatus } from "../../services/gen/grantledger/v1/grant_service.js";
import { actor } from "../support/grpc-clients.js";
import { expectFailure, rid, startE2E, type E2E } from "../support/e2e-harness.js";

/**
 * Capabilities 1–3 of the audit issue through real gRPC clients on a real nats-server: replay from
 * the log with every filter (checked against a brute-force filter over the full replay written
 * here, independently of the service's filter code), the audit trail's paginated search, state at
 * any point in time folded with the write side's evolve, and the CLI reading the log directly.
 */

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));

const emptyFilter = (over: Partial<EventFilter> = {}): EventFilter => ({
  subject: "",
  clientId: "",
  resource: "",
  actor: "",
  eventTypes: [],
  ...over,
});

const payload = (e: AuditEvent): Record<string, unknown> => JSON.parse(e.payloadJson) as Record<string, unknown>;
const kindName = (k: AggregateKind): string => AggregateKind[k].replace("AGGREGATE_KIND_", "").toLowerCase();

interface GrantInfo {
  subject: string;
  clientId: string;
  resources: string[];
}

/** The test's own idea of what each event concerns: from the event itself, or its grant's creation. */
function concerns(e: AuditEvent, grants: ReadonlyMap<string, GrantInfo>): { subject?: string; clientId?: string; resources: string[] } {
  const p = payload(e);
  const kind = kindName(e.aggregate?.kind ?? AggregateKind.AGGREGATE_KIND_UNSPECIFIED);
  const id = e.aggregate?.id ?? "";
  if (kind === "grant") {
    const g = grants.get(id);
    return { subject: g?.subject, clientId: g?.clientId, resources: g?.resources ?? [] };
  }
  if (kind === "client") return { clientId: id, resources: [] };
  if (kind === "subject") return { subject: typeof p.subject === "string" ? p.subject : id, resources: [] };
  return { resources: [] };
}

/** Brute force: every filter field checked one by one against the full replay. */
function bruteForce(all: readonly AuditEvent[], f: EventFilter, grants: ReadonlyMap<string, GrantInfo>): AuditEvent[] {
  return all.filter((e) => {
    const c = concerns(e, grants);
    const at = e.time?.getTime() ?? 0;
    if (f.aggregate !== undefined && (e.aggregate?.kind !== f.aggregate.kind || e.aggregate.id !== f.aggregate.id)) return false;
    if (f.subject !== "" && c.subject !== f.subject) return false;
    if (f.clientId !== "" && c.clientId !== f.clientId) return false;
    if (f.resource !== "" && !c.resources.includes(f.resource)) return false;
    if (f.actor !== "" && e.actor !== f.actor) return false;
    if (f.eventTypes.length > 0 && !f.eventTypes.includes(e.type)) return false;
    if (f.fromTime !== undefined && at < f.fromTime.getTime()) return false;
    if (f.toTime !== undefined && at >= f.toTime.getTime()) return false;
    if (f.fromSequence !== undefined && e.sequence < f.fromSequence) return false;
    if (f.toSequence !== undefined && e.sequence > f.toSequence) return false;
    return true;
  });
}

const key = (e: AuditEvent): string => `${e.sequence}.${e.index}`;

/** Runs the CLI; resolves with its exit code and output. */
function cli(args: string[], natsUrl: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "scripts/cli.ts"), ...args], {
      cwd: repoRoot,
      env: { ...process.env, NATS_URL: natsUrl },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.on("error", fail);
    child.on("exit", (code) => done({ code, stdout, stderr }));
  });
}

describe("e2e: audit replay, search and point in time", () => {
  let e2e: E2E;
  /** The full history, as ReplayEvents streams it with an empty filter. */
  let all: AuditEvent[] = [];
  const grants = new Map<string, GrantInfo>();
  const run = randomUUID().slice(0, 8);
  const users = ["ann", "ben", "cat", "dan"].map((u) => `${u}-${run}`);
  const actors = { admin: "admin@ops", dev: "dev@acme", support: "support@ops", app: "app-backend" };
  const clientIds: string[] = [];
  const grantIds: string[] = [];
  /** Hand-noted points in the history for point-in-time checks. */
  const marks = {
    grantCreatedSeq: 0,
    grantIssuedSeq: 0,
    grantRevokedSeq: 0,
    tokenRevokedSeq: 0,
    subjectRevokedSeq: 0,
    subjectRevokedAt: 0,
    subjectRevokedEventAt: 0,
    issued: [] as string[],
    revokedTokenId: "",
  };

  beforeAll(async () => {
    e2e = await startE2E();
    const { api } = e2e;
    const owners = ["acme", "globex", "initech"].map((o) => `${o}-${run}`);
    const scopes = ["account:read", "zone:read", "zone:edit", "dns:read", "offline_access"];
    for (const [i, owner] of owners.entries()) {
      const r = await api.clients.registerClient(
        {
          requestId: rid(),
          ownerAccount: owner,
          name: `App ${i}`,
          redirectUris: ["https://app.example.com/cb"],
          allowedScopes: scopes,
          clientType: i === 2 ? ClientType.CLIENT_TYPE_PUBLIC : ClientType.CLIENT_TYPE_CONFIDENTIAL,
        },
        actor(i === 0 ? actors.dev : actors.admin),
      );
      clientIds.push(r.clientId);
    }
    // Each user consents to two or three apps, over different resources.
    const resourcesOf = (u: number, c: number): string[] => [`acct-${u}`, ...(c === 1 ? [`zone-${u}`, "zone-shared"] : [])];
    for (const [u, subject] of users.entries()) {
      for (const [c, clientId] of clientIds.entries()) {
        if ((u + c) % 4 === 3) continue;
        const g = await api.grants.createGrant(
          { requestId: rid(), subject, clientId, scopes: c === 2 ? ["zone:read"] : ["account:read", "zone:read", "offline_access"], resources: resourcesOf(u, c), expiresAt: undefined },
          actor(actors.app),
        );
        grantIds.push(g.grantId);
        if (marks.grantCreatedSeq === 0) marks.grantCreatedSeq = g.sequence;
      }
    }
    const first = grantIds[0] as string;
    // Tokens: two issues on the first grant, one on each of a few others.
    const t1 = await api.tokens.issueTokens({ requestId: rid(), grantId: first, scopes: [], includeRefreshToken: true, accessTokenTtlSeconds: undefined }, actor(actors.app));
    marks.grantIssuedSeq = t1.sequence;
    marks.issued.push(t1.accessTokenId, t1.refreshTokenId);
    const t2 = await api.tokens.issueTokens({ requestId: rid(), grantId: first, scopes: ["zone:read"], includeRefreshToken: false, accessTokenTtlSeconds: 600 }, actor(actors.app));
    marks.issued.push(t2.accessTokenId);
    for (const grantId of grantIds.slice(2, 7)) {
      await api.tokens.issueTokens({ requestId: rid(), grantId, scopes: [], includeRefreshToken: grantId.endsWith("a"), accessTokenTtlSeconds: undefined }, actor(actors.app));
    }
    const revokedToken = await api.revocation.revokeToken({ requestId: rid(), token: t2.accessToken, tokenTypeHint: undefined, clientId: undefined }, actor(actors.support));
    marks.tokenRevokedSeq = revokedToken.sequence;
    marks.revokedTokenId = t2.accessTokenId;
    const revokedGrant = await api.revocation.revokeGrant({ requestId: rid(), grantId: first, reason: "user asked" }, actor(actors.support));
    marks.grantRevokedSeq = revokedGrant.sequence;
    await api.clients.suspendClient({ requestId: rid(), clientId: clientIds[1] as string, reason: "abuse report" }, actor(actors.admin));
    await api.clients.reinstateClient({ requestId: rid(), clientId: clientIds[1] as string, reason: "resolved" }, actor(actors.admin));
    // A pause so the subject revocation has an instant of its own for at_time checks.
    await new Promise((r) => setTimeout(r, 20));
    marks.subjectRevokedAt = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    const revokedSubject = await api.revocation.revokeSubject({ requestId: rid(), subject: users[1] as string, reason: "account closed" }, actor(actors.admin));
    marks.subjectRevokedSeq = revokedSubject.sequence;
    await api.clients.deleteClient({ requestId: rid(), clientId: clientIds[2] as string, reason: "retired" }, actor(actors.dev));

    all = await api.replay({ filter: undefined, follow: false, batchSize: 0 });
    for (const e of all) {
      if (e.type !== "grant.created") continue;
      const p = payload(e);
      grants.set(String(p.grantId), { subject: String(p.subject), clientId: String(p.clientId), resources: p.resources as string[] });
    }
    marks.subjectRevokedEventAt = all.find((e) => e.sequence === marks.subjectRevokedSeq)?.time?.getTime() ?? 0;
  }, 60_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it("replays the whole log in order, one event per (sequence, index), hashes only", async () => {
    const head = await e2e.head();
    expect(all.length).toBeGreaterThan(20);
    expect(all.at(-1)?.sequence).toBe(head);
    for (let i = 1; i < all.length; i++) {
      const [a, b] = [all[i - 1] as AuditEvent, all[i] as AuditEvent];
      expect(a.sequence < b.sequence || (a.sequence === b.sequence && a.index < b.index)).toBe(true);
    }
    // Every sequence of the stream is there (no message skipped).
    expect(new Set(all.map((e) => e.sequence)).size).toBe(head);
    const first = all[0] as AuditEvent;
    expect(first).toMatchObject({ type: "client.registered", schemaVersion: 1, actor: actors.dev });
    expect(first.eventId).not.toBe("");
    expect(first.requestId).not.toBe("");
    // No token or secret in plaintext: only prefixed opaque values would match.
    for (const e of all) expect(e.payloadJson).not.toMatch(/\bgl[a-z]_[0-9A-Za-z]{20,}/);
  });

  it("each replay filter returns exactly what a brute-force filter over the full replay returns", async () => {
    const { api } = e2e;
    const [c0, c1, c2] = clientIds as [string, string, string];
    const g0 = grantIds[0] as string;
    const times = all.map((e) => e.time?.getTime() ?? 0);
    const mid = new Date(times[Math.floor(times.length / 2)] as number);
    const late = new Date(times[Math.floor((times.length * 3) / 4)] as number);
    const filters: Array<[string, EventFilter]> = [
      ["aggregate grant", emptyFilter({ aggregate: { kind: AggregateKind.AGGREGATE_KIND_GRANT, id: g0 } })],
      ["aggregate client", emptyFilter({ aggregate: { kind: AggregateKind.AGGREGATE_KIND_CLIENT, id: c1 } })],
      ["aggregate subject", emptyFilter({ aggregate: { kind: AggregateKind.AGGREGATE_KIND_SUBJECT, id: users[1] as string } })],
      ["subject (user)", emptyFilter({ subject: users[0] as string })],
      ["subject revoked user", emptyFilter({ subject: users[1] as string })],
      ["client", emptyFilter({ clientId: c1 })],
      ["client deleted", emptyFilter({ clientId: c2 })],
      ["resource", emptyFilter({ resource: "zone-shared" })],
      ["resource of one user", emptyFilter({ resource: "acct-2" })],
      ["actor", emptyFilter({ actor: actors.support })],
      ["actor admin", emptyFilter({ actor: actors.admin })],
      ["event types", emptyFilter({ eventTypes: ["token.issued", "client.suspended"] })],
      ["time range", emptyFilter({ fromTime: mid, toTime: late })],
      ["from time", emptyFilter({ fromTime: late })],
      ["sequence range", emptyFilter({ fromSequence: 5, toSequence: 17 })],
      ["subject + types", emptyFilter({ subject: users[0] as string, eventTypes: ["token.issued"] })],
      ["client + actor + time", emptyFilter({ clientId: c0, actor: actors.app, fromTime: mid })],
      ["resource + sequence", emptyFilter({ resource: "acct-0", fromSequence: marks.grantCreatedSeq + 1 })],
    ];
    for (const [name, filter] of filters) {
      const expected = bruteForce(all, filter, grants).map(key);
      const actual = (await api.replay({ filter, follow: false, batchSize: 0 })).map(key);
      // A filter that matches nothing or everything proves little.
      expect(expected.length, name).toBeGreaterThan(0);
      if (!name.startsWith("from time")) expect(expected.length, name).toBeLessThan(all.length);
      expect(actual, name).toEqual(expected);
    }
    // Nothing matches: an empty stream, not a hang.
    expect(await api.replay({ filter: emptyFilter({ subject: "nobody", eventTypes: ["client.registered"] }), follow: false, batchSize: 0 })).toEqual([]);
    expect(await api.replay({ filter: emptyFilter({ fromSequence: 1_000_000 }), follow: false, batchSize: 0 })).toEqual([]);
  });

  it("SearchEvents pages cover every matching event exactly once, in order, without the log", async () => {
    const { api } = e2e;
    const head = await e2e.head();
    const filters: EventFilter[] = [
      emptyFilter(),
      emptyFilter({ subject: users[0] as string }),
      emptyFilter({ clientId: clientIds[1] as string }),
      emptyFilter({ actor: actors.admin }),
      emptyFilter({ resource: "zone-shared", eventTypes: ["grant.created", "token.issued"] }),
      emptyFilter({ fromSequence: 3, toSequence: 20, actor: actors.app }),
    ];
    for (const filter of filters) {
      const expected = bruteForce(all, filter, grants);
      const seen: AuditEvent[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const page = await api.audit.searchEvents({ filter, pageSize: 4, pageToken, minSequence: head });
        expect(page.events.length).toBeLessThanOrEqual(4);
        seen.push(...page.events);
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken !== "" && pages < 1000);
      expect(seen.map(key)).toEqual(expected.map(key));
      // The read model holds the same events as the log: field for field.
      expect(seen.map((e) => ({ ...e, payloadJson: JSON.parse(e.payloadJson) as unknown }))).toEqual(
        expected.map((e) => ({ ...e, payloadJson: JSON.parse(e.payloadJson) as unknown })),
      );
      expect(pages).toBe(Math.max(1, Math.ceil(expected.length / 4)));
    }
    await expectFailure(api.audit.searchEvents({ filter: undefined, pageSize: 5000, pageToken: "", minSequence: undefined }), {
      code: status.INVALID_ARGUMENT,
      field: "page_size",
    });
    await expectFailure(api.audit.searchEvents({ filter: undefined, pageSize: 10, pageToken: "garbage", minSequence: undefined }), {
      code: status.INVALID_ARGUMENT,
      field: "page_token",
    });
    const issued = await api.audit.searchEvents({ filter: emptyFilter({ actor: actors.admin }), pageSize: 1, pageToken: "", minSequence: undefined });
    await expectFailure(api.audit.searchEvents({ filter: emptyFilter({ actor: actors.dev }), pageSize: 1, pageToken: issued.nextPageToken, minSequence: undefined }), {
      code: status.INVALID_ARGUMENT,
      field: "page_token",
    });
  });

  it("GetStateAt at the head equals the live read model for every grant and client", async () => {
    const { api } = e2e;
    for (const grantId of grantIds) {
      const at = await api.audit.getStateAt({ aggregate: { kind: AggregateKind.AGGREGATE_KIND_GRANT, id: grantId }, atTime: undefined, atSequence: undefined });
      expect(at.exists).toBe(true);
      const state = JSON.parse(at.stateJson) as Record<string, unknown>;
      const { grant } = await api.grants.getGrant({ grantId, minSequence: at.sequence });
      expect(grant).toBeDefined();
      expect({
        grantId: state.grantId,
        subject: state.subject,
        clientId: state.clientId,
        scopes: [...(state.scopes as string[])].sort(),
        resources: state.resources,
      }).toEqual({
        grantId: grant?.grantId,
        subject: grant?.subject,
        clientId: grant?.clientId,
        scopes: [...(grant?.scopes ?? [])].sort(),
        resources: grant?.resources,
      });
      const readModelRevoked = grant?.status === GrantStatus.GRANT_STATUS_REVOKED;
      if (grant?.subject === users[1]) {
        // Revoked by the user's watermark, which lives on the subject aggregate, not the grant's.
        expect(readModelRevoked).toBe(true);
        expect(state.status).toBe("active");
      } else {
        expect(state.status === "revoked").toBe(readModelRevoked);
      }
    }
    for (const clientId of clientIds) {
      const at = await api.audit.getStateAt({ aggregate: { kind: AggregateKind.AGGREGATE_KIND_CLIENT, id: clientId }, atTime: undefined, atSequence: undefined });
      const state = JSON.parse(at.stateJson) as Record<string, unknown>;
      const { client } = await api.clients.getClient({ clientId, minSequence: at.sequence });
      expect({ clientId: state.clientId, ownerAccount: state.ownerAccount, name: state.name, status: state.status, allowedScopes: state.allowedScopes }).toEqual({
        clientId: client?.clientId,
        ownerAccount: client?.ownerAccount,
        name: client?.name,
        status: ["", "active", "suspended", "deleted"][client?.status ?? 0],
        allowedScopes: client?.allowedScopes,
      });
    }
  });

  it("GetStateAt at past sequences and instants equals a hand-built expectation", async () => {
    const { api } = e2e;
    const g0 = grantIds[0] as string;
    const grantAt = async (atSequence: number) =>
      JSON.parse((await api.audit.getStateAt({ aggregate: { kind: AggregateKind.AGGREGATE_KIND_GRANT, id: g0 }, atTime: undefined, atSequence })).stateJson) as Record<
        string,
        unknown
      >;
    const created = grants.get(g0) as GrantInfo;
    // Before its creation the grant does not exist.
    const before = await api.audit.getStateAt({ aggregate: { kind: AggregateKind.AGGREGATE_KIND_GRANT, id: g0 }, atTime: undefined, atSequence: marks.grantCreatedSeq - 1 });
    expect(before).toMatchObject({ exists: false, sequence: 0 });
    expect(await grantAt(marks.grantCreatedSeq)).toMatchObject({
      status: "active",
      grantId: g0,
      subject: created.subject,
      clientId: created.clientId,
      resources: created.resources,
      revokedReason: null,
      tokens: {},
      revokedFamilies: [],
    });
    const afterIssue = await grantAt(marks.grantIssuedSeq);
    expect(Object.keys(afterIssue.tokens as object).sort()).toEqual(marks.issued.slice(0, 2).sort());
    expect(afterIssue.status).toBe("active");
    const afterTokenRevoke = await grantAt(marks.tokenRevokedSeq);
    expect(Object.keys(afterTokenRevoke.tokens as object).sort()).toEqual([...marks.issued].sort());
    expect((afterTokenRevoke.tokens as Record<string, { revoked: boolean }>)[marks.revokedTokenId]?.revoked).toBe(true);
    expect(afterTokenRevoke.status).toBe("active");
    // A sequence between two of the grant's events sees the earlier one.
    expect(await grantAt(marks.grantRevokedSeq - 1)).toEqual(afterTokenRevoke);
    expect(await grantAt(marks.grantRevokedSeq)).toMatchObject({ status: "revoked", revokedReason: "user asked" });

    // The subject at instants around its revocation.
    const subjectAt = async (atTime: Date) =>
      api.audit.getStateAt({ aggregate: { kind: AggregateKind.AGGREGATE_KIND_SUBJECT, id: users[1] as string }, atTime, atSequence: undefined });
    const earlier = await subjectAt(new Date(marks.subjectRevokedAt));
    expect(earlier).toEqual({ exists: false, sequence: 0, stateJson: JSON.stringify({ subject: null, revokedAt: null, revocations: 0 }) });
    const later = await subjectAt(new Date(marks.subjectRevokedEventAt));
    expect(later.exists).toBe(true);
    expect(later.sequence).toBe(marks.subjectRevokedSeq);
    expect(JSON.parse(later.stateJson)).toEqual({ subject: users[1], revokedAt: expect.any(Number) as number, revocations: 1 });

    await expectFailure(api.audit.getStateAt({ aggregate: undefined, atTime: undefined, atSequence: undefined }), { code: status.INVALID_ARGUMENT, field: "aggregate" });
    await expectFailure(
      api.audit.getStateAt({ aggregate: { kind: AggregateKind.AGGREGATE_KIND_GRANT, id: g0 }, atTime: new Date(), atSequence: 3 }),
      { code: status.INVALID_ARGUMENT, field: "at_sequence" },
    );
  });

  it("GetHistory lists each event of an aggregate with the state after it, whole or in pages", async () => {
    const { api } = e2e;
    const g0 = grantIds[0] as string;
    const ref = { kind: AggregateKind.AGGREGATE_KIND_GRANT, id: g0 };
    const { entries } = await api.audit.getHistory({ aggregate: ref, pageSize: 0, pageToken: "" });
    const expected = bruteForce(all, emptyFilter({ aggregate: ref }), grants);
    expect(entries.map((h) => key(h.event as AuditEvent))).toEqual(expected.map(key));
    expect(entries.map((h) => h.event?.type)).toEqual(["grant.created", "token.issued", "token.issued", "token.revoked", "grant.revoked"]);
    for (const entry of entries) {
      const at = await api.audit.getStateAt({ aggregate: ref, atTime: undefined, atSequence: entry.event?.sequence });
      expect(entry.stateJson).toBe(at.stateJson);
    }

    // Pages of 2: the same entries, states included, and no token after the last page.
    const paged: typeof entries = [];
    const tokens: string[] = [];
    let pageToken = "";
    do {
      const page = await api.audit.getHistory({ aggregate: ref, pageSize: 2, pageToken });
      expect(page.entries.length).toBeLessThanOrEqual(2);
      paged.push(...page.entries);
      pageToken = page.nextPageToken;
      tokens.push(pageToken);
    } while (pageToken !== "");
    expect(paged).toEqual(entries);
    expect(tokens).toHaveLength(3);
    await expectFailure(api.audit.getHistory({ aggregate: ref, pageSize: 2, pageToken: "not-a-token" }), { code: status.INVALID_ARGUMENT, field: "page_token" });
    await expectFailure(api.audit.getHistory({ aggregate: ref, pageSize: 1001, pageToken: "" }), { code: status.INVALID_ARGUMENT, field: "page_size" });
  });

  it("the CLI replays the log directly: jsonl matches the RPC, filters too", async () => {
    const natsUrl = e2e.nats.url;
    const subject = users[0] as string;
    // Independent processes: run them side by side (each spends ~2 s starting up).
    const outputFile = join(tmpdir(), `gl-audit-replay-${run}.jsonl`);
    const [full, filtered, table, bad, unreachable, toFile] = await Promise.all([
      cli(["audit", "replay", "--format", "jsonl"], natsUrl),
      cli(["audit", "replay", "--subject", subject, "--type", "grant.created,token.issued"], natsUrl),
      cli(["audit", "replay", "--format", "table", "--to-seq", "3"], natsUrl),
      cli(["audit", "replay", "--format", "xml"], natsUrl),
      cli(["audit", "replay"], "nats://127.0.0.1:1"),
      cli(["audit", "replay", "--output", outputFile], natsUrl),
    ]);
    expect(full.stderr).toBe("");
    expect(full.code).toBe(0);
    const lines = full.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const asCli = (e: AuditEvent) => ({
      sequence: e.sequence,
      index: e.index,
      time: e.time?.toISOString(),
      type: e.type,
      schemaVersion: e.schemaVersion,
      actor: e.actor,
      requestId: e.requestId,
      eventId: e.eventId,
      aggregate: { kind: kindName(e.aggregate?.kind ?? 0), id: e.aggregate?.id },
      payload: JSON.parse(e.payloadJson) as unknown,
    });
    expect(lines).toEqual(all.map(asCli));

    expect(filtered.code).toBe(0);
    const rpc = await e2e.api.replay({ filter: emptyFilter({ subject, eventTypes: ["grant.created", "token.issued"] }), follow: false, batchSize: 0 });
    expect(filtered.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as unknown)).toEqual(rpc.map(asCli));

    expect(table.code).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^\s+SEQ\.IDX\s+TIME\s+TYPE/);
    expect(table.stdout.trimEnd().split("\n")).toHaveLength(1 + all.filter((e) => e.sequence <= 3).length);

    expect(toFile.code).toBe(0);
    expect(toFile.stdout).toBe("");
    expect(await readFile(outputFile, "utf8")).toBe(full.stdout);
    await rm(outputFile, { force: true });

    expect(bad.code).toBe(2);
    expect(unreachable.code).toBe(1);
  });

  it("batched replay (batch_size) streams the same events in the same order, several per response; a following batch is not held back", async () => {
    const { api } = e2e;
    const responses: ReplayEventsResponse[] = [];
    for await (const response of api.replayStream({ filter: undefined, follow: false, batchSize: 7 })) responses.push(response);
    expect(responses.every((r) => r.event === undefined && r.events.length >= 1 && r.events.length <= 7)).toBe(true);
    expect(responses.some((r) => r.events.length > 1)).toBe(true);
    const batched = responses.flatMap((r) => r.events);
    expect(batched.slice(0, all.length)).toEqual(all);
    const tooBig = (await api.replay({ filter: undefined, follow: false, batchSize: 1001 }).then(
      () => ({ code: status.OK, details: "" }),
      (error: { code: number; details: string }) => error,
    ));
    expect(tooBig.code).toBe(status.INVALID_ARGUMENT);
    expect(tooBig.details).toContain("batch_size");

    const head = await e2e.head();
    const stream = api.replayStream({ filter: emptyFilter({ fromSequence: head + 1 }), follow: true, batchSize: 100 });
    const iterator = stream[Symbol.asyncIterator]();
    await new Promise((r) => setTimeout(r, 500));
    const appended = await api.clients.registerClient(
      { requestId: rid(), ownerAccount: `batch-${run}`, name: "Batch app", redirectUris: ["https://batch.example.com/cb"], allowedScopes: ["zone:read"], clientType: ClientType.CLIENT_TYPE_PUBLIC },
      actor(actors.dev),
    );
    const next = await iterator.next();
    expect(next.done === true ? undefined : next.value.events[0]).toMatchObject({ sequence: appended.sequence, type: "client.registered" });
    stream.cancel();
  });

  it("follow streams a new event (RPC and CLI), and Ctrl-C ends the CLI cleanly", async () => {
    const { api } = e2e;
    const head = await e2e.head();
    const stream = api.replayStream({ filter: emptyFilter({ fromSequence: head + 1 }), follow: true, batchSize: 0 });
    const iterator = stream[Symbol.asyncIterator]();
    const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "scripts/cli.ts"), "audit", "replay", "--follow", "--from-seq", String(head + 1)], {
      cwd: repoRoot,
      env: { ...process.env, NATS_URL: e2e.nats.url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    // Give both readers time to attach before the event exists: they must see it live.
    await new Promise((r) => setTimeout(r, 1500));
    const appended = await api.clients.registerClient(
      { requestId: rid(), ownerAccount: `late-${run}`, name: "Late app", redirectUris: ["https://late.example.com/cb"], allowedScopes: ["zone:read"], clientType: ClientType.CLIENT_TYPE_PUBLIC },
      actor(actors.dev),
    );
    const next = await iterator.next();
    const first: ReplayEventsResponse | undefined = next.done === true ? undefined : next.value;
    expect(first?.event).toMatchObject({ sequence: appended.sequence, type: "client.registered", actor: actors.dev });
    stream.cancel();
    const deadline = Date.now() + 10_000;
    while (!out.includes("\n") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(JSON.parse(out.split("\n")[0] as string)).toMatchObject({ sequence: appended.sequence, type: "client.registered" });
    child.kill("SIGINT");
    expect(await exited).toBe(0);
  });
});
