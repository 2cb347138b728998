import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3, { type Database } from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CHECKPOINT_SCHEMA, dataVersion, readCheckpoint } from "../../../projections/runner/sqlite.js";
import { createTokensProjection, TokensReadModel } from "../../../projections/tokens/index.js";
import { TOKENS_PROJECTION_NAME } from "../../../projections/tokens/handlers.js";
import { createKeyring, hashToken } from "../../../services/crypto/keys.js";
import { mintToken } from "../../../services/crypto/mint.js";
import type { LedgerEvent } from "../../../services/domain/index.js";
import { ActiveTokenCache } from "../../../services/grpc/active-tokens.js";
import { tokenIntrospector } from "../../../services/grpc/introspection-service.js";
import type { ReadModel } from "../../../services/grpc/read-model.js";
import {
  clientRegistered,
  clientSuspended,
  EnvelopeBuilder,
  grantCreated,
  grantRevoked,
  HOUR,
  issued,
  subjectRevoked,
  tokenIssued,
  tokenRevoked,
} from "../../support/envelopes.js";

/**
 * The active-answer cache behind Introspect and /oauth2/introspect: it may skip the point lookup only
 * while the read model's applied position is unchanged, and a revocation the read model applied is
 * never answered from it.
 */
describe("tokenIntrospector's active-answer cache", () => {
  const key = { id: "k1", secret: Buffer.alloc(32, 7) };
  const keyring = createKeyring(key);
  const now = Date.now();
  const later = now + HOUR;
  let db: Database;
  let envelopes: EnvelopeBuilder;
  let lookups: number;
  let introspect: ReturnType<typeof tokenIntrospector>;
  const projection = createTokensProjection();

  /** Applies one envelope the way the runner does: the rows, then the position (runner.appliedSeq). */
  let applied = 0;
  const apply = (events: LedgerEvent | LedgerEvent[]): void => {
    const envelope = envelopes.next(events);
    db.transaction(() => projection.apply(db, envelope))();
    applied = envelope.seq;
  };

  const tokens = { a: mintToken("access_token"), b: mintToken("access_token"), c: mintToken("refresh_token") };

  beforeEach(() => {
    db = new BetterSqlite3(":memory:");
    projection.migrate(db);
    envelopes = new EnvelopeBuilder();
    applied = 0;
    lookups = 0;
    const inner = new TokensReadModel(db);
    const readModel = {
      introspect: (hash: string, nowMs: number) => {
        lookups++;
        return inner.introspect(hash, nowMs);
      },
    } as unknown as ReadModel;
    introspect = tokenIntrospector({ keyring, readModel, freshness: { appliedSeq: () => applied, waitFor: () => Promise.resolve(true) } });
    apply(clientRegistered("client-1"));
    apply(grantCreated("grant-1", { resources: ["acct:1"], expiresAt: now + 2 * HOUR }));
    apply(
      tokenIssued("grant-1", [
        issued("at-a", { hash: hashToken(key, tokens.a), expiresAt: later }),
        issued("at-b", { hash: hashToken(key, tokens.b), expiresAt: later, familyId: "fam-b" }),
        issued("rt-c", { hash: hashToken(key, tokens.c), kind: "refresh_token", expiresAt: later, familyId: "fam-b" }),
      ]),
    );
  });
  afterEach(() => db.close());

  it("a repeat introspection at the same position skips the lookup and gives the same answer", () => {
    const first = introspect(tokens.a, now, undefined);
    expect(first?.tokenId).toBe("at-a");
    expect(lookups).toBe(1);
    expect(introspect(tokens.a, now + 1, undefined)).toEqual(first);
    expect(lookups).toBe(1);
  });

  it("revoke, then introspect through the cache: inactive as soon as the read model applied the revocation", () => {
    expect(introspect(tokens.a, now, undefined)).toBeDefined();
    expect(introspect(tokens.a, now, undefined)).toBeDefined();
    expect(lookups).toBe(1);
    apply(tokenRevoked("grant-1", { tokenIds: ["at-a"] }));
    expect(introspect(tokens.a, now, undefined)).toBeUndefined();
    // And it stays inactive (nothing inactive is remembered as active).
    expect(introspect(tokens.a, now, undefined)).toBeUndefined();
  });

  it.each([
    ["family revoked", (): LedgerEvent => tokenRevoked("grant-1", { familyIds: ["fam-b"] })],
    ["grant revoked", (): LedgerEvent => grantRevoked("grant-1")],
    ["client suspended", (): LedgerEvent => clientSuspended("client-1")],
    ["subject signed out everywhere", (): LedgerEvent => subjectRevoked("user-1", "signed out", now)],
  ])("%s: every cached answer under it turns inactive with the event", (_name, event) => {
    for (const token of [tokens.b, tokens.c]) expect(introspect(token, now, undefined)).toBeDefined();
    for (const token of [tokens.b, tokens.c]) expect(introspect(token, now, undefined)).toBeDefined();
    apply(event());
    for (const token of [tokens.b, tokens.c]) expect(introspect(token, now, undefined)).toBeUndefined();
  });

  it("an unrelated event (a token issued elsewhere) empties the cache too: the next call looks up again", () => {
    introspect(tokens.a, now, undefined);
    apply(tokenIssued("grant-1", [issued("at-other", { expiresAt: later })]));
    const before = lookups;
    expect(introspect(tokens.a, now, undefined)?.tokenId).toBe("at-a");
    expect(lookups).toBe(before + 1);
  });

  it("time alone: a cached answer lapses at the token's expiry and at the grant's, without any event", () => {
    expect(introspect(tokens.a, now, undefined)).toBeDefined();
    expect(introspect(tokens.a, later - 1, undefined)).toBeDefined();
    expect(introspect(tokens.a, later, undefined)).toBeUndefined();
    // A grant expiring before its token: the grant's expiry bounds the answer.
    apply(grantCreated("grant-2", { resources: ["acct:1"], expiresAt: now + 10 * 60_000 }));
    const t = mintToken("access_token");
    apply(tokenIssued("grant-2", [issued("at-g2", { hash: hashToken(key, t), expiresAt: later, familyId: "fam-g2" })]));
    expect(introspect(t, now, undefined)?.validUntil).toBe(now + 10 * 60_000);
    expect(introspect(t, now + 10 * 60_000 - 1, undefined)).toBeDefined();
    expect(introspect(t, now + 10 * 60_000, undefined)).toBeUndefined();
  });

  it("a token hidden from a restricted caller costs its lookup even when its active answer is cached", () => {
    expect(introspect(tokens.a, now, undefined)).toBeDefined();
    const before = lookups;
    expect(introspect(tokens.a, now, ["acct:2"])).toBeUndefined();
    expect(lookups).toBe(before + 1);
    // A caller that may see it gets it from the cache.
    expect(introspect(tokens.a, now, ["acct:1"])).toBeDefined();
    expect(lookups).toBe(before + 1);
  });

  it("a token presented under the wrong kind is inactive, cached answer or not", () => {
    expect(introspect(tokens.c, now, undefined)?.kind).toBe("refresh_token");
    const relabeled = `gla_${tokens.c.slice(4)}`;
    expect(introspect(relabeled, now, undefined)).toBeUndefined();
  });
});

describe("ActiveTokenCache over another process's file (position from PRAGMA data_version + checkpoint)", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "gl-active-tokens-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("a revocation committed by the writer connection is seen by the reader's next introspection", () => {
    const file = join(dir, "tokens.db");
    const writer = new BetterSqlite3(file);
    writer.pragma("journal_mode = WAL");
    writer.exec(CHECKPOINT_SCHEMA);
    const projection = createTokensProjection();
    projection.migrate(writer);
    const envelopes = new EnvelopeBuilder();
    const commit = (events: LedgerEvent | LedgerEvent[]): void => {
      const envelope = envelopes.next(events);
      writer.transaction(() => {
        projection.apply(writer, envelope);
        writer
          .prepare("INSERT INTO checkpoint (projection, version, seq, updated_at) VALUES (?, 1, ?, 0) ON CONFLICT (projection) DO UPDATE SET seq = excluded.seq")
          .run(TOKENS_PROJECTION_NAME, envelope.seq);
      })();
    };
    const key = { id: "k1", secret: Buffer.alloc(32, 9) };
    const token = mintToken("access_token");
    const now = Date.now();
    commit(clientRegistered("client-1"));
    commit(grantCreated("grant-1"));
    commit(tokenIssued("grant-1", [issued("at-1", { hash: hashToken(key, token), expiresAt: now + HOUR })]));

    const reader = new BetterSqlite3(file, { readonly: true });
    try {
      // What services/app/projection-slot.ts does for a reader of another process's file.
      let known: { version: number; seq: number } | undefined;
      const appliedSeq = (): number => {
        const version = dataVersion(reader);
        if (known?.version === version) return known.seq;
        known = { version, seq: readCheckpoint(reader, TOKENS_PROJECTION_NAME)?.seq ?? 0 };
        return known.seq;
      };
      const readModel = new TokensReadModel(reader);
      const introspect = tokenIntrospector({ keyring: createKeyring(key), readModel, freshness: { appliedSeq, waitFor: () => Promise.resolve(true) } });
      expect(introspect(token, now, undefined)?.tokenId).toBe("at-1");
      expect(introspect(token, now, undefined)?.tokenId).toBe("at-1");
      commit(tokenRevoked("grant-1", { tokenIds: ["at-1"] }));
      expect(introspect(token, now, undefined)).toBeUndefined();
    } finally {
      reader.close();
      writer.close();
    }
  });

  it("drops everything when the position changes, and the oldest entry beyond its bound", () => {
    let seq = 1;
    const cache = new ActiveTokenCache(() => seq, 2);
    const answer = (id: string) => ({ tokenId: id, kind: "access_token", scopes: [], scope: "", clientId: "c", subject: "s", issuedAt: 0, expiresAt: 10, grantId: "g", resources: [], validUntil: 10 }) as const;
    cache.sync();
    cache.set("h1", answer("1"));
    cache.set("h2", answer("2"));
    cache.set("h3", answer("3"));
    expect([cache.get("h1", 0), cache.get("h2", 0)?.tokenId, cache.get("h3", 0)?.tokenId]).toEqual([undefined, "2", "3"]);
    cache.sync();
    expect(cache.size).toBe(2);
    seq = 2;
    cache.sync();
    expect(cache.size).toBe(0);
  });
});
