import BetterSqlite3 from "better-sqlite3";
import type { Database } from "better-sqlite3";
import { beforeEach, describe, expect, it } from "vitest";
import type { LedgerEvent } from "../../../services/domain/events.js";
import { INTROSPECT_SQL } from "../../../projections/tokens/queries.js";
import {
  CLEANUP_START,
  type CleanupCursor,
  createTokensProjection,
  deleteExpiredTokens,
  deleteExpiredTokensBatch,
  startTokenCleanup,
  storedHash,
  TOKENS_PROJECTION,
  TokensReadModel,
} from "../../../projections/tokens/index.js";
import {
  clientDeleted,
  clientReinstated,
  clientRegistered,
  clientSuspended,
  EnvelopeBuilder,
  grantCreated,
  grantRevoked,
  hashOf,
  HOUR,
  issued,
  MINUTE,
  subjectRevoked,
  T0,
  tokenIssued,
  tokenRevoked,
} from "../../support/envelopes.js";

const NOW = T0 + 10 * MINUTE;

describe("tokens projection", () => {
  let db: Database;
  let model: TokensReadModel;
  let envelopes: EnvelopeBuilder;
  const projection = createTokensProjection();

  /** Applies one message (one or more events) and returns its sequence. */
  const given = (...events: LedgerEvent[]): number => {
    const envelope = envelopes.next(events);
    db.transaction(() => projection.apply(db, envelope))();
    return envelope.seq;
  };

  /** A client, a grant of user-1 on it, and an access + refresh token pair in family fam-1. */
  const standardSetup = (): void => {
    given(clientRegistered("client-1"));
    given(grantCreated("grant-1"));
    given(
      tokenIssued("grant-1", [
        issued("at-1", { familyId: "fam-1", scopes: ["profile:read", "repo:read"] }),
        issued("rt-1", { familyId: "fam-1", kind: "refresh_token", expiresAt: T0 + 30 * 24 * HOUR }),
      ]),
    );
  };

  beforeEach(() => {
    db = new BetterSqlite3(":memory:");
    projection.migrate(db);
    model = new TokensReadModel(db);
    envelopes = new EnvelopeBuilder();
  });

  it("is named tokens, version 3", () => {
    expect(TOKENS_PROJECTION.name).toBe("tokens");
    expect(TOKENS_PROJECTION.version).toBe(3);
  });

  // Issue 8's storage bar: bytes per live token. A wider row or key shows up here before a benchmark.
  it("stores a token compactly: the hash as its 32 bytes, kind and scopes as integers, the grant only on the family", () => {
    standardSetup();
    const columns = db.prepare<[], { name: string; type: string; pk: number }>("SELECT name, type, pk FROM pragma_table_info('tokens')").all();
    expect(columns.find((c) => c.pk === 1)).toMatchObject({ name: "hash", type: "BLOB" });
    expect(columns.find((c) => c.name === "kind")?.type).toBe("INTEGER");
    expect(columns.map((c) => c.name)).not.toContain("grant_id");
    const rows = db
      .prepare<[], { type: string; bytes: number; kind: number; scopes: string }>(
        "SELECT typeof(hash) AS type, length(hash) AS bytes, kind, typeof(scopes) AS scopes FROM tokens ORDER BY kind",
      )
      .all();
    // Scopes: a mask over the grant's scope vocabulary (scope-bits.ts).
    expect(rows).toEqual([
      { type: "blob", bytes: 32, kind: 0, scopes: "integer" },
      { type: "blob", bytes: 32, kind: 1, scopes: "integer" },
    ]);
    const indexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'tokens' ORDER BY name").pluck().all();
    expect(indexes).toEqual(["tokens_by_id"]); // no expiry index: cleanup sweeps the primary key
    expect(db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'token_families'").pluck().get()).toBe(0);
  });

  it("stores a keyed hash under its HMAC's bytes, whatever the key id; anything else under its own bytes", () => {
    const mac = Buffer.alloc(32, 7);
    expect(storedHash(`k1:${mac.toString("base64url")}`)).toEqual(mac);
    expect(storedHash(`key-2024:${mac.toString("base64url")}`)).toEqual(mac);
    // Introspection's probe for a malformed token must miss: never the bytes of a real hash.
    expect(storedHash(`!k1:${mac.toString("base64url")}`)).toEqual(Buffer.from(`!k1:${mac.toString("base64url")}`));
    expect(storedHash("k1:nope")).toEqual(Buffer.from("k1:nope"));
  });

  describe("introspect", () => {
    it("answers an active token with every field", () => {
      standardSetup();
      expect(model.introspect(hashOf("at-1"), NOW)).toEqual({
        tokenId: "at-1",
        kind: "access_token",
        scopes: ["profile:read", "repo:read"],
        scope: "profile:read repo:read",
        clientId: "client-1",
        subject: "user-1",
        issuedAt: T0,
        expiresAt: T0 + HOUR,
        grantId: "grant-1",
        resources: ["acct:1"],
        // The grant never expires: the token's expiry bounds the answer.
        validUntil: T0 + HOUR,
      });
      expect(model.introspect(hashOf("rt-1"), NOW)).toMatchObject({ tokenId: "rt-1", kind: "refresh_token" });
    });

    it("validUntil is the earlier of the token's and its grant's expiry", () => {
      given(clientRegistered("client-1"));
      given(grantCreated("grant-1", { expiresAt: T0 + 30 * 60_000 }));
      given(tokenIssued("grant-1", [issued("a", { expiresAt: T0 + HOUR })]));
      expect(model.introspect(hashOf("a"), T0)?.validUntil).toBe(T0 + 30 * 60_000);
    });

    it("keeps several resources and an empty resource list", () => {
      given(clientRegistered("client-1"));
      given(grantCreated("grant-1", { resources: ["acct:1", "https://api.example/repos x"] }));
      given(grantCreated("grant-2", { resources: [] }));
      given(tokenIssued("grant-1", [issued("a")]));
      given(tokenIssued("grant-2", [issued("b")]));
      expect(model.introspect(hashOf("a"), NOW)?.resources).toEqual(["acct:1", "https://api.example/repos x"]);
      expect(model.introspect(hashOf("b"), NOW)).toMatchObject({ resources: [] });
    });

    it("is inactive for an unknown hash", () => {
      standardSetup();
      expect(model.introspect("k1:unknown", NOW)).toBeUndefined();
    });

    it("is inactive once expired (exp is exclusive)", () => {
      standardSetup();
      expect(model.introspect(hashOf("at-1"), T0 + HOUR - 1)).toBeDefined();
      expect(model.introspect(hashOf("at-1"), T0 + HOUR)).toBeUndefined();
    });

    it("is inactive when the token is revoked, and only that token", () => {
      standardSetup();
      given(tokenRevoked("grant-1", { tokenIds: ["at-1"] }));
      expect(model.introspect(hashOf("at-1"), NOW)).toBeUndefined();
      expect(model.introspect(hashOf("rt-1"), NOW)).toBeDefined();
    });

    it("revoking the refresh token's family deactivates the access token issued with it", () => {
      standardSetup();
      given(tokenIssued("grant-1", [issued("at-other", { familyId: "fam-2" })]));
      given(tokenRevoked("grant-1", { familyIds: ["fam-1"], reason: "refresh token reuse" }));
      expect(model.introspect(hashOf("rt-1"), NOW)).toBeUndefined();
      expect(model.introspect(hashOf("at-1"), NOW)).toBeUndefined();
      expect(model.introspect(hashOf("at-other"), NOW)).toBeDefined();
    });

    it("a token rotated into a revoked family is born inactive", () => {
      standardSetup();
      given(tokenRevoked("grant-1", { familyIds: ["fam-1"] }));
      given(tokenIssued("grant-1", [issued("at-late", { familyId: "fam-1" })]));
      expect(model.introspect(hashOf("at-late"), NOW)).toBeUndefined();
    });

    it("is inactive when the grant is revoked", () => {
      standardSetup();
      given(grantRevoked("grant-1"));
      expect(model.introspect(hashOf("at-1"), NOW)).toBeUndefined();
      expect(model.introspect(hashOf("rt-1"), NOW)).toBeUndefined();
    });

    it("is inactive when the grant has expired, even if the token has not", () => {
      given(clientRegistered("client-1"));
      given(grantCreated("grant-1", { expiresAt: T0 + 20 * MINUTE }));
      given(tokenIssued("grant-1", [issued("at-1", { expiresAt: T0 + HOUR })]));
      expect(model.introspect(hashOf("at-1"), T0 + 20 * MINUTE - 1)).toBeDefined();
      expect(model.introspect(hashOf("at-1"), T0 + 20 * MINUTE)).toBeUndefined();
    });

    it("subject revoked: grants created before the watermark are inactive, one created after is active", () => {
      standardSetup();
      given(grantCreated("grant-other-user", { subject: "user-2" }));
      given(tokenIssued("grant-other-user", [issued("at-u2")]));
      given(subjectRevoked("user-1"));
      expect(model.introspect(hashOf("at-1"), NOW)).toBeUndefined();
      expect(model.introspect(hashOf("rt-1"), NOW)).toBeUndefined();
      expect(model.introspect(hashOf("at-u2"), NOW)).toBeDefined();

      given(grantCreated("grant-2"));
      given(tokenIssued("grant-2", [issued("at-2")]));
      expect(model.introspect(hashOf("at-2"), NOW)).toMatchObject({ grantId: "grant-2", subject: "user-1" });
      // A second watermark revokes the new grant too.
      given(subjectRevoked("user-1", "again", T0 + HOUR));
      expect(model.introspect(hashOf("at-2"), NOW)).toBeUndefined();
    });

    it("client suspended → inactive, reinstated → active again, unless revoked meanwhile", () => {
      standardSetup();
      given(clientSuspended("client-1"));
      expect(model.introspect(hashOf("at-1"), NOW)).toBeUndefined();
      given(tokenRevoked("grant-1", { tokenIds: ["rt-1"] }));
      given(clientReinstated("client-1"));
      expect(model.introspect(hashOf("at-1"), NOW)).toBeDefined();
      expect(model.introspect(hashOf("rt-1"), NOW)).toBeUndefined();
    });

    it("client deleted → inactive", () => {
      standardSetup();
      given(clientDeleted("client-1"));
      expect(model.introspect(hashOf("at-1"), NOW)).toBeUndefined();
    });

    it("never stores a plaintext token: only the hashes from the events", () => {
      standardSetup();
      const hashes = db.prepare("SELECT hash FROM tokens ORDER BY hash").pluck().all();
      expect(hashes).toEqual([storedHash(hashOf("at-1")), storedHash(hashOf("rt-1"))].sort((a, b) => Buffer.compare(a, b)));
    });

    it("is one primary-key seek per joined table", () => {
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${INTROSPECT_SQL}`).all("x", NOW, NOW) as { detail: string }[];
      expect(plan).toHaveLength(5);
      for (const step of plan) expect(step.detail).toMatch(/^SEARCH \w+ USING PRIMARY KEY \(\w+=\?\)( LEFT-JOIN)?$/);
    });
  });

  describe("findToken", () => {
    it("finds a token whatever its state", () => {
      standardSetup();
      given(grantRevoked("grant-1"));
      expect(model.findToken(hashOf("rt-1"))).toEqual({
        tokenId: "rt-1",
        grantId: "grant-1",
        clientId: "client-1",
        kind: "refresh_token",
        familyId: "fam-1",
      });
      expect(model.findToken("k1:nope")).toBeUndefined();
    });
  });

  describe("clients", () => {
    it("reads a client with times from the envelopes and the last touching sequence", () => {
      const registered = given(clientRegistered("client-1", { redirectUris: ["https://a/cb", "https://b/cb?x=1 2"] }));
      const suspendedAt = envelopes.next([clientSuspended("client-1", "spam")]);
      db.transaction(() => projection.apply(db, suspendedAt))();
      expect(model.getClient("client-1")).toEqual({
        clientId: "client-1",
        ownerAccount: "acct-owner",
        name: "App client-1",
        redirectUris: ["https://a/cb", "https://b/cb?x=1 2"],
        allowedScopes: ["profile:read", "repo:read", "repo:write"],
        clientType: "confidential",
        status: "suspended",
        statusReason: "spam",
        createdAt: T0 + 1000 * registered,
        updatedAt: suspendedAt.at,
        seq: suspendedAt.seq,
      });
      expect(model.getClient("nope")).toBeUndefined();
    });

    it("lists an owner's clients in registration order, deleted ones on request", () => {
      given(clientRegistered("c-b", { ownerAccount: "acct-1" }));
      given(clientRegistered("c-a", { ownerAccount: "acct-1" }));
      given(clientRegistered("c-x", { ownerAccount: "acct-2" }));
      given(clientRegistered("c-c", { ownerAccount: "acct-1" }));
      given(clientDeleted("c-a"));
      expect(model.listClients("acct-1").map((c) => c.clientId)).toEqual(["c-b", "c-c"]);
      expect(model.listClients("acct-1", { includeDeleted: true }).map((c) => [c.clientId, c.status])).toEqual([
        ["c-b", "active"],
        ["c-a", "deleted"],
        ["c-c", "active"],
      ]);
      expect(model.listClients("acct-3")).toEqual([]);
    });
  });

  describe("grants", () => {
    it("reads an active grant with its client", () => {
      given(clientRegistered("client-1"));
      const seq = given(grantCreated("grant-1", { expiresAt: T0 + HOUR, scopes: ["a", "b"], resources: ["r1", "r2"] }));
      expect(model.getGrant("grant-1", NOW)).toEqual({
        grantId: "grant-1",
        subject: "user-1",
        clientId: "client-1",
        clientName: "App client-1",
        clientStatus: "active",
        scopes: ["a", "b"],
        resources: ["r1", "r2"],
        createdAt: T0,
        expiresAt: T0 + HOUR,
        status: "active",
        statusReason: null,
        revokedAt: null,
        createdSeq: seq,
        seq,
      });
      expect(model.getGrant("grant-1", T0 + HOUR)).toMatchObject({ status: "expired", statusReason: "expired" });
      expect(model.getGrant("nope", NOW)).toBeUndefined();
    });

    it("derives revoked with the grant's reason, or the subject watermark", () => {
      given(clientRegistered("client-1"));
      given(grantCreated("g-revoked"));
      given(grantCreated("g-watermarked"));
      const revokedSeq = given(grantRevoked("g-revoked", "user clicked revoke"));
      given(subjectRevoked("user-1", "password reset", T0 + 5 * MINUTE));
      given(grantCreated("g-after"));
      expect(model.getGrant("g-revoked", NOW)).toMatchObject({
        status: "revoked",
        statusReason: "user clicked revoke",
        seq: revokedSeq,
      });
      expect(model.getGrant("g-watermarked", NOW)).toMatchObject({
        status: "revoked",
        statusReason: "subject revoked",
        revokedAt: T0 + 5 * MINUTE,
      });
      expect(model.getGrant("g-after", NOW)).toMatchObject({ status: "active", statusReason: null });
    });

    it("keeps the grant's own status apart from its client's", () => {
      given(clientRegistered("client-1"));
      given(grantCreated("grant-1"));
      given(clientSuspended("client-1"));
      expect(model.getGrant("grant-1", NOW)).toMatchObject({ status: "active", clientStatus: "suspended" });
    });

    it("lists by subject and by client in creation order, inactive ones on request", () => {
      given(clientRegistered("client-1"));
      given(clientRegistered("client-2"));
      given(grantCreated("g3", { clientId: "client-2" }));
      given(grantCreated("g1", { clientId: "client-1" }));
      given(grantCreated("g2", { clientId: "client-1", expiresAt: T0 + MINUTE }));
      given(grantCreated("g4", { clientId: "client-1", subject: "user-2" }));
      given(grantRevoked("g1"));
      const ids = (grants: { grantId: string }[]): string[] => grants.map((g) => g.grantId);

      expect(ids(model.listGrants({ subject: "user-1" }, { nowMs: NOW }))).toEqual(["g3"]);
      expect(
        model.listGrants({ subject: "user-1" }, { nowMs: NOW, includeInactive: true }).map((g) => [g.grantId, g.status]),
      ).toEqual([
        ["g3", "active"],
        ["g1", "revoked"],
        ["g2", "expired"],
      ]);
      expect(ids(model.listGrants({ clientId: "client-1" }, { nowMs: T0 }))).toEqual(["g2", "g4"]);
      expect(ids(model.listGrants({ clientId: "client-1" }, { nowMs: NOW, includeInactive: true }))).toEqual([
        "g1",
        "g2",
        "g4",
      ]);

      given(subjectRevoked("user-1"));
      expect(ids(model.listGrants({ subject: "user-1" }, { nowMs: NOW }))).toEqual([]);
      expect(ids(model.listGrants({ subject: "user-2" }, { nowMs: NOW }))).toEqual(["g4"]);
    });
  });

  describe("expiry cleanup", () => {
    const issueMany = (count: number, expiresAt: (i: number) => number, prefix = "t"): void => {
      if (model.getGrant("grant-1", NOW) === undefined) {
        given(clientRegistered("client-1"));
        given(grantCreated("grant-1"));
      }
      const tokens = Array.from({ length: count }, (_, i) => issued(`${prefix}-${i}`, { expiresAt: expiresAt(i) }));
      given(tokenIssued("grant-1", tokens));
    };
    const count = (table: string): number => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

    it("deletes tokens expired before now - grace, in bounded batches", () => {
      // 2 500 expired a minute before NOW, 500 still live.
      issueMany(3000, (i) => (i < 2500 ? NOW - MINUTE : NOW + HOUR));
      // Within the grace period nothing goes.
      expect(deleteExpiredTokens(db, NOW, { graceMs: 2 * MINUTE, batchSize: 1000 })).toBe(0);
      expect(deleteExpiredTokens(db, NOW, { graceMs: 30_000, batchSize: 1000 })).toBe(2500);
      expect(count("tokens")).toBe(500);
      expect(count("token_families")).toBe(500);
      expect(model.introspect(hashOf("t-2999"), NOW)).toBeDefined();
      expect(deleteExpiredTokens(db, NOW)).toBe(0);
    });

    it("sweeps the primary keys (tokens, then families): no statement examines more than batchSize rows", () => {
      const executed: string[] = [];
      db = new BetterSqlite3(":memory:", { verbose: (sql) => executed.push(String(sql)) });
      projection.migrate(db);
      model = new TokensReadModel(db);
      issueMany(250, () => NOW - MINUTE);
      executed.length = 0;
      expect(deleteExpiredTokens(db, NOW, { batchSize: 100 })).toBe(250);
      // Pages of 100 + 100 + 50 keys: the third is short, so the sweep is done.
      const deletes = executed.filter((sql) => sql.startsWith("DELETE FROM tokens"));
      expect(deletes).toHaveLength(3);
      for (const sql of deletes) expect(sql).toMatch(/hash > .* AND hash <= /);
      expect(executed.filter((sql) => sql.startsWith("SELECT")).every((sql) => sql.includes("LIMIT"))).toBe(true);

      // Batch by batch with the cursor: 150 expired among 300 rows, 100 examined at a time.
      issueMany(150, () => NOW - MINUTE, "u");
      issueMany(150, () => NOW + HOUR, "v");
      const deleted = { tokens: [] as number[], token_families: [] as number[] };
      let cursor: CleanupCursor | undefined = CLEANUP_START;
      while (cursor !== undefined) {
        const batch = deleteExpiredTokensBatch(db, NOW, cursor, 100);
        deleted[batch.table].push(batch.deleted);
        cursor = batch.next;
      }
      // 300 rows in each table (one family per token here): three full pages and the empty one
      // that ends each sweep, tokens first.
      expect(deleted.tokens).toHaveLength(4);
      expect(deleted.token_families).toHaveLength(4);
      expect(deleted.tokens.reduce((a, b) => a + b, 0)).toBe(150);
      expect(deleted.token_families.reduce((a, b) => a + b, 0)).toBe(150);
      expect(count("tokens")).toBe(150);
      expect(count("token_families")).toBe(150);
    });

    it("the scheduler drains a backlog batch by batch and keeps running", async () => {
      issueMany(2_050, () => NOW - MINUTE);
      const controller = new AbortController();
      const runs: number[] = [];
      // Counts event-loop turns while the backlog drains: the scheduler must yield between batches.
      let turns = 0;
      let ticking = true;
      const tick = (): void => {
        turns++;
        if (ticking) setImmediate(tick);
      };
      setImmediate(tick);
      let turnsAtFirstRun = -1;
      const running = startTokenCleanup({
        db,
        batchSize: 500,
        intervalMs: 20,
        now: () => NOW,
        signal: controller.signal,
        onRun: (deleted) => {
          runs.push(deleted);
          if (runs.length === 1) turnsAtFirstRun = turns;
          if (runs.length === 2) controller.abort();
        },
      });
      await running;
      ticking = false;
      expect(runs).toEqual([2050, 0]);
      expect(turnsAtFirstRun).toBeGreaterThanOrEqual(4); // 5 batches, 4 yields between them
      expect(count("tokens")).toBe(0);
    });
  });
});
