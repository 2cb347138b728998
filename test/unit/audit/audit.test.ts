import BetterSqlite3 from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { matchesFacts, matchesRecord, pushdownSubjects, type AuditFilter } from "../../../services/audit/filter.js";
import { auditRecords, factsOf, grantFactsOf, type GrantFacts } from "../../../services/audit/records.js";
import { stateToJson } from "../../../services/audit/state-at.js";
import type { LedgerEvent } from "../../../services/domain/events.js";
import type { AggregateRef, RecordedEnvelope } from "../../../services/eventlog/types.js";
import { decodePageToken, encodePageToken } from "../../../services/grpc/audit-service.js";
import { applyAuditEnvelope, AuditReadModel, migrateAudit, prepareAuditStatements } from "../../../projections/audit/index.js";

const T0 = 1_700_000_000_000;

let seq = 0;
function envelope(aggregate: AggregateRef, events: LedgerEvent[], actor = "tester", at = T0 + seq * 1000): RecordedEnvelope {
  seq++;
  return { seq, aggregate, eventId: `ev-${seq}`, at, actor, requestId: `rq-${seq}`, prev: null, hash: "h", storedAt: at, events };
}

const grantCreated = (grantId: string, subject: string, clientId: string, resources: string[]): LedgerEvent => ({
  type: "grant.created",
  data: { grantId, subject, clientId, scopes: ["zone:read"], resources, expiresAt: null, createdAt: T0 },
});
const tokenIssued = (grantId: string, tokenId: string): LedgerEvent => ({
  type: "token.issued",
  data: {
    grantId,
    tokens: [{ tokenId, kind: "access_token", hash: `k1:${tokenId}`, familyId: `fa-${tokenId}`, scopes: ["zone:read"], issuedAt: T0, expiresAt: T0 + 3_600_000 }],
  },
});

/** A small history: two users, two apps, grants, tokens, revocations, one message with two events. */
function history(): RecordedEnvelope[] {
  seq = 0;
  return [
    envelope({ kind: "client", id: "cl_a" }, [
      { type: "client.registered", data: { clientId: "cl_a", ownerAccount: "acme", name: "A", redirectUris: [], allowedScopes: ["zone:read"], clientType: "public", secretHash: null } },
    ], "dev"),
    envelope({ kind: "grant", id: "gr_1" }, [grantCreated("gr_1", "ann", "cl_a", ["acct-1", "zone-9"])], "app"),
    envelope({ kind: "grant", id: "gr_2" }, [grantCreated("gr_2", "ben", "cl_b", ["acct-2"])], "app"),
    envelope({ kind: "grant", id: "gr_1" }, [tokenIssued("gr_1", "t1"), tokenIssued("gr_1", "t2")], "app"),
    envelope({ kind: "grant", id: "gr_2" }, [tokenIssued("gr_2", "t3")], "app"),
    envelope({ kind: "client", id: "cl_a" }, [{ type: "client.suspended", data: { clientId: "cl_a", reason: "abuse" } }], "admin"),
    envelope({ kind: "grant", id: "gr_1" }, [{ type: "grant.revoked", data: { grantId: "gr_1", reason: "asked" } }], "support"),
    envelope({ kind: "subject", id: "ben" }, [{ type: "subject.revoked", data: { subject: "ben", reason: "closed", revokedAt: T0 } }], "admin"),
  ];
}

describe("audit facts: who and what each event concerns", () => {
  const grants = new Map<string, GrantFacts>();
  for (const e of history()) for (const r of auditRecords(e)) {
    const created = grantFactsOf(r);
    if (created !== undefined) grants.set(...created);
  }
  const records = history().flatMap(auditRecords);

  it("resolves events that name only their grant through the grant's creation", () => {
    const issued = records.find((r) => r.type === "token.issued" && r.seq === 4 && r.index === 1);
    expect(issued).toBeDefined();
    expect(factsOf(issued!, (id) => grants.get(id))).toEqual({ subject: "ann", clientId: "cl_a", grantId: "gr_1", resources: ["acct-1", "zone-9"] });
    // Without the grant known, only what the event itself says.
    expect(factsOf(issued!, () => undefined)).toEqual({ subject: null, clientId: null, grantId: "gr_1", resources: [] });
  });

  it("reads client and subject events from their aggregate and payload", () => {
    const suspended = records.find((r) => r.type === "client.suspended")!;
    expect(factsOf(suspended, () => undefined)).toEqual({ subject: null, clientId: "cl_a", grantId: null, resources: [] });
    const revoked = records.find((r) => r.type === "subject.revoked")!;
    expect(factsOf(revoked, () => undefined)).toMatchObject({ subject: "ben", clientId: null });
  });

  it("matches the record and fact filters field by field", () => {
    const issued = records.find((r) => r.seq === 4)!;
    expect(matchesRecord({ actor: "app", types: ["token.issued"], fromSeq: 4, toSeq: 4 }, issued)).toBe(true);
    expect(matchesRecord({ actor: "dev" }, issued)).toBe(false);
    expect(matchesRecord({ fromTime: issued.at + 1 }, issued)).toBe(false);
    expect(matchesRecord({ toTime: issued.at }, issued)).toBe(false); // [from, to)
    expect(matchesRecord({ toTime: issued.at + 1 }, issued)).toBe(true);
    const facts = factsOf(issued, (id) => grants.get(id));
    expect(matchesFacts({ subject: "ann", clientId: "cl_a", resource: "zone-9" }, facts)).toBe(true);
    expect(matchesFacts({ resource: "acct-2" }, facts)).toBe(false);
  });
});

describe("server-side narrowing of a replay", () => {
  it("pushes exact aggregate subjects down, never wildcards", () => {
    expect(pushdownSubjects({ aggregate: { kind: "grant", id: "gr_1" } }, "ledger")).toEqual(["ledger.grant.gr_1"]);
    expect(pushdownSubjects({ aggregate: { kind: "subject", id: "ann@example.com" } }, "ledger")).toEqual([
      `ledger.subject.~${Buffer.from("ann@example.com").toString("base64url")}`,
    ]);
    // Needs every grant subject: read everything and filter here (wildcards are slow on 2.10).
    expect(pushdownSubjects({ subject: "ann" }, "ledger")).toBeUndefined();
    expect(pushdownSubjects({ types: ["token.issued"] }, "ledger")).toBeUndefined();
    expect(pushdownSubjects({}, "ledger")).toBeUndefined();
  });

  it("knows when nothing can match", () => {
    expect(pushdownSubjects({ aggregate: { kind: "client", id: "cl_a" }, types: ["grant.created"] }, "ledger")).toEqual([]);
    expect(pushdownSubjects({ aggregate: { kind: "client", id: "cl_a" }, subject: "ann" }, "ledger")).toEqual([]);
    expect(pushdownSubjects({ aggregate: { kind: "grant", id: "gr_1" }, subject: "ann" }, "ledger")).toEqual(["ledger.grant.gr_1"]);
  });
});

describe("audit projection and SearchEvents paging", () => {
  const db = new BetterSqlite3(":memory:");
  migrateAudit(db);
  const statements = prepareAuditStatements(db);
  for (const e of history()) applyAuditEnvelope(statements, e);
  const model = new AuditReadModel(db);
  const all = model.search({}, { limit: 1000 }).rows;

  const pages = (filter: AuditFilter, size: number): string[] => {
    const out: string[] = [];
    let after;
    for (let i = 0; i < 100; i++) {
      const page = model.search(filter, { limit: size, ...(after === undefined ? {} : { after }) });
      out.push(...page.rows.map((r) => `${r.seq}.${r.index}`));
      if (page.next === undefined) return out;
      after = page.next;
    }
    throw new Error("too many pages");
  };

  it("stores one row per event with its resolved user and client", () => {
    expect(all).toHaveLength(9);
    expect(all.map((r) => `${r.seq}.${r.index}`)).toEqual(["1.0", "2.0", "3.0", "4.0", "4.1", "5.0", "6.0", "7.0", "8.0"]);
    const t3 = all.find((r) => r.seq === 5)!;
    expect(t3).toMatchObject({ type: "token.issued", subject: "ben", clientId: "cl_b", grantId: "gr_2", actor: "app", aggregateKind: "grant" });
    expect(JSON.parse(t3.payloadJson)).toMatchObject({ grantId: "gr_2" });
  });

  it.each<[string, AuditFilter, string[]]>([
    ["everything a user did or had done", { subject: "ann" }, ["2.0", "4.0", "4.1", "7.0"]],
    ["everything an app did", { clientId: "cl_a" }, ["1.0", "2.0", "4.0", "4.1", "6.0", "7.0"]],
    ["everything an operator did", { actor: "admin" }, ["6.0", "8.0"]],
    ["between two instants", { fromTime: T0 + 3000, toTime: T0 + 5000 }, ["4.0", "4.1", "5.0"]],
    ["by resource", { resource: "acct-2" }, ["3.0", "5.0"]],
    ["user and types", { subject: "ben", types: ["token.issued", "subject.revoked"] }, ["5.0", "8.0"]],
    ["aggregate", { aggregate: { kind: "grant", id: "gr_1" } }, ["2.0", "4.0", "4.1", "7.0"]],
  ])("%s, every page size covering each event once", (_name, filter, expected) => {
    for (const size of [1, 2, 3, 100]) expect(pages(filter, size)).toEqual(expected);
  });

  it("page tokens are opaque, bound to their filter, and reject garbage", () => {
    const filter: AuditFilter = { subject: "ann" };
    const token = encodePageToken({ seq: 4, index: 1 }, filter);
    expect(decodePageToken(token, { subject: "ann" })).toEqual({ seq: 4, index: 1 });
    expect(() => decodePageToken(token, { subject: "ben" })).toThrow(/another filter/);
    expect(() => decodePageToken("not-a-token", filter)).toThrow(/page_token/);
    expect(decodePageToken("", filter)).toBeUndefined();
  });
});

describe("state serialization", () => {
  it("turns Maps into objects and Sets into arrays", () => {
    expect(JSON.parse(stateToJson({ tokens: new Map([["t1", { revoked: false }]]), families: new Set(["f1", "f2"]), n: 1 }))).toEqual({
      tokens: { t1: { revoked: false } },
      families: ["f1", "f2"],
      n: 1,
    });
  });
});
