import BetterSqlite3 from "better-sqlite3";
import type { Database } from "better-sqlite3";
import { beforeEach, describe, expect, it } from "vitest";
import type { EventOf, LedgerEvent } from "../../../services/domain/events.js";
import { createTokensProjection, deleteExpiredTokens, storedHash, TokensReadModel } from "../../../projections/tokens/index.js";
import {
  clientRegistered,
  EnvelopeBuilder,
  grantCreated,
  hashOf,
  HOUR,
  issued,
  MINUTE,
  subjectRevoked,
  T0,
  tokenIssued,
} from "../../support/envelopes.js";

/** The read-model rules issue 3 adds: effective scopes, the client token watermark, codes, rotation, client grants. */
const NOW = T0 + 10 * MINUTE;
const SCOPES = ["profile:read", "repo:read"];

describe("tokens projection: OAuth flows", () => {
  let db: Database;
  let model: TokensReadModel;
  let envelopes: EnvelopeBuilder;
  const projection = createTokensProjection();

  const given = (...events: LedgerEvent[]): number => {
    const envelope = envelopes.next(events);
    db.transaction(() => projection.apply(db, envelope))();
    return envelope.seq;
  };
  const active = (tokenId: string): boolean => model.introspect(hashOf(tokenId), NOW) !== undefined;

  beforeEach(() => {
    db = new BetterSqlite3(":memory:");
    projection.migrate(db);
    model = new TokensReadModel(db);
    envelopes = new EnvelopeBuilder();
    given(clientRegistered("client-1", { allowedScopes: SCOPES }));
    given(grantCreated("grant-1", { scopes: SCOPES }));
  });

  const clientUpdated = (allowedScopes: string[]): EventOf<"client.updated"> => ({
    type: "client.updated",
    data: { clientId: "client-1", name: "Renamed", redirectUris: ["https://a.example/cb"], allowedScopes },
  });
  const grantScopes = (scopes: string[]): EventOf<"grant.scopes_updated"> => ({ type: "grant.scopes_updated", data: { grantId: "grant-1", scopes } });
  const clientTokensRevoked: EventOf<"client.tokens_revoked"> = { type: "client.tokens_revoked", data: { clientId: "client-1", reason: "leak", revokedAt: T0 } };

  describe("effective scopes = token ∩ grant ∩ client allowed", () => {
    beforeEach(() => {
      given(tokenIssued("grant-1", [issued("at-1", { scopes: SCOPES })]));
    });

    it("reports the token's own scopes while nothing narrowed", () => {
      expect(model.introspect(hashOf("at-1"), NOW)).toMatchObject({ scopes: SCOPES, scope: "profile:read repo:read" });
    });

    it("narrows with the grant's re-consent, and widening the grant never widens the token", () => {
      given(grantScopes(["repo:read"]));
      expect(model.introspect(hashOf("at-1"), NOW)).toMatchObject({ scopes: ["repo:read"], scope: "repo:read" });
      given(grantScopes([...SCOPES, "zone:read"]));
      expect(model.introspect(hashOf("at-1"), NOW)?.scopes).toEqual(SCOPES);
    });

    it("narrows with the client's allowed scopes (UpdateClient), and the client row follows", () => {
      given(clientUpdated(["profile:read"]));
      expect(model.introspect(hashOf("at-1"), NOW)?.scopes).toEqual(["profile:read"]);
      expect(model.getClient("client-1")).toMatchObject({ name: "Renamed", allowedScopes: ["profile:read"], redirectUris: ["https://a.example/cb"] });
    });

    it("is inactive when nothing remains", () => {
      given(grantScopes(["zone:read"]));
      expect(active("at-1")).toBe(false);
    });

    // Token scopes are stored as a mask over the grant's scope vocabulary (scope-bits.ts).
    it("stores scopes as a small integer mask, and masks keep their meaning as the grant's scopes change", () => {
      const stored = (tokenId: string): unknown =>
        db.prepare("SELECT typeof(scopes) || ':' || scopes FROM tokens WHERE token_id = ?").pluck().get(tokenId);
      expect(stored("at-1")).toBe("integer:3");
      given(clientUpdated([...SCOPES, "zone:read"]));
      given(grantScopes(["repo:read", "zone:read"]));
      given(grantScopes([...SCOPES, "zone:read"]));
      given(tokenIssued("grant-1", [issued("at-2", { scopes: ["repo:read", "zone:read"] }), issued("at-3", { scopes: ["profile:read", "zone:read"] })]));
      expect(db.prepare("SELECT scope_names FROM grants WHERE grant_id = 'grant-1'").pluck().get()).toBe("profile:read repo:read zone:read");
      expect(stored("at-2")).toBe("integer:6");
      expect(model.introspect(hashOf("at-1"), NOW)?.scopes).toEqual(SCOPES);
      expect(model.introspect(hashOf("at-2"), NOW)?.scopes).toEqual(["repo:read", "zone:read"]);
      expect(model.introspect(hashOf("at-3"), NOW)?.scopes).toEqual(["profile:read", "zone:read"]);
    });

    it("keeps as text scopes a mask cannot give back (not the grant's, or out of order), read the same way", () => {
      given(tokenIssued("grant-1", [issued("at-2", { scopes: ["repo:read", "profile:read"] }), issued("at-3", { scopes: ["profile:read", "zone:read"] })]));
      const stored = db.prepare("SELECT token_id, typeof(scopes) AS type FROM tokens WHERE token_id IN ('at-2', 'at-3') ORDER BY token_id").all();
      expect(stored).toEqual([
        { token_id: "at-2", type: "text" },
        { token_id: "at-3", type: "text" },
      ]);
      expect(model.introspect(hashOf("at-2"), NOW)?.scopes).toEqual(["repo:read", "profile:read"]);
      expect(model.introspect(hashOf("at-3"), NOW)?.scopes).toEqual(["profile:read"]);
    });
  });

  describe("client token watermark (RevokeClientTokens)", () => {
    it("deactivates every family started at or before it, not the client, not later families", () => {
      given(tokenIssued("grant-1", [issued("at-1", { familyId: "fam-1" }), issued("rt-1", { familyId: "fam-1", kind: "refresh_token" })]));
      given(clientTokensRevoked);
      given(tokenIssued("grant-1", [issued("at-2", { familyId: "fam-2" })]));
      expect(active("at-1")).toBe(false);
      expect(active("rt-1")).toBe(false);
      expect(active("at-2")).toBe(true);
      expect(model.getClient("client-1")?.status).toBe("active");
    });

    it("covers tokens rotated later into a family started before it", () => {
      given(tokenIssued("grant-1", [issued("rt-1", { familyId: "fam-1", kind: "refresh_token" })]));
      given(clientTokensRevoked);
      given({ type: "refresh.rotated", data: { grantId: "grant-1", consumedTokenId: "rt-1", tokens: [issued("rt-2", { familyId: "fam-1", kind: "refresh_token" })] } });
      expect(active("rt-2")).toBe(false);
    });
  });

  describe("refresh rotation and reuse", () => {
    beforeEach(() => {
      given(tokenIssued("grant-1", [issued("at-1", { familyId: "fam-1" }), issued("rt-1", { familyId: "fam-1", kind: "refresh_token" })]));
      given({
        type: "refresh.rotated",
        data: {
          grantId: "grant-1",
          consumedTokenId: "rt-1",
          tokens: [issued("at-2", { familyId: "fam-1" }), issued("rt-2", { familyId: "fam-1", kind: "refresh_token" })],
        },
      });
    });

    it("the consumed refresh token is inactive, its successors active, the earlier access token too", () => {
      expect(active("rt-1")).toBe(false);
      expect(active("rt-2")).toBe(true);
      expect(active("at-2")).toBe(true);
      expect(active("at-1")).toBe(true);
      expect(model.findToken(hashOf("rt-1"))).toMatchObject({ tokenId: "rt-1", familyId: "fam-1", kind: "refresh_token" });
    });

    it("reuse detection deactivates the whole family and its access tokens", () => {
      given({ type: "refresh.reuse_detected", data: { grantId: "grant-1", tokenId: "rt-1", familyId: "fam-1", reason: "refresh token reused" } });
      for (const id of ["at-1", "rt-1", "at-2", "rt-2"]) expect(active(id)).toBe(false);
    });
  });

  describe("authorization codes", () => {
    const codeIssued = (codeId: string, expiresAt: number): EventOf<"code.issued"> => ({
      type: "code.issued",
      data: { grantId: "grant-1", codeId, hash: hashOf(codeId), redirectUri: "https://a.example/cb", codeChallenge: null, codeChallengeMethod: null, scopes: SCOPES, issuedAt: T0, expiresAt },
    });

    it("finds a code's grant by hash, redeemed or not, and its tokens are introspectable", () => {
      given(codeIssued("ac-1", T0 + MINUTE));
      expect(model.findCode(hashOf("ac-1"))).toEqual({ codeId: "ac-1", grantId: "grant-1", clientId: "client-1" });
      given({ type: "code.redeemed", data: { grantId: "grant-1", codeId: "ac-1", tokens: [issued("at-1", { familyId: "at-1" })] } });
      expect(model.findCode(hashOf("ac-1"))?.codeId).toBe("ac-1");
      expect(active("at-1")).toBe(true);
      // A code is never a token: introspection does not know it.
      expect(model.introspect(hashOf("ac-1"), T0)).toBeUndefined();
      const stored = db.prepare("SELECT hash FROM codes").pluck().all();
      expect(stored).toEqual([storedHash(hashOf("ac-1"))]);
    });

    it("expired codes are cleaned up in batches with the tokens", () => {
      given(codeIssued("ac-1", T0 + MINUTE), codeIssued("ac-2", T0 + HOUR));
      deleteExpiredTokens(db, T0 + 2 * MINUTE, { batchSize: 1 });
      expect(model.findCode(hashOf("ac-1"))).toBeUndefined();
      expect(model.findCode(hashOf("ac-2"))).toBeDefined();
    });
  });

  describe("the client's own grant (client credentials)", () => {
    const ccCreated: EventOf<"grant.created_for_client"> = { type: "grant.created_for_client", data: { grantId: "cc-1", clientId: "client-1", scopes: SCOPES, createdAt: T0 } };

    it("answers sub = client_id and ignores a subject watermark of the same name", () => {
      given(ccCreated, tokenIssued("cc-1", [issued("cc-at-1", { familyId: "cc-at-1" })]));
      expect(model.introspect(hashOf("cc-at-1"), NOW)).toMatchObject({ clientId: "client-1", subject: "client-1", grantId: "cc-1" });
      given(subjectRevoked("client-1"));
      expect(active("cc-at-1")).toBe(true);
    });

    it("answers to the client's token watermark", () => {
      given(ccCreated, tokenIssued("cc-1", [issued("cc-at-1", { familyId: "cc-at-1" })]));
      given(clientTokensRevoked);
      expect(active("cc-at-1")).toBe(false);
    });
  });

  it("keeps the introspection hot path one primary-key seek per joined table", async () => {
    const { INTROSPECT_SQL } = await import("../../../projections/tokens/queries.js");
    const plan = db.prepare(`EXPLAIN QUERY PLAN ${INTROSPECT_SQL}`).all("x", NOW, NOW) as { detail: string }[];
    for (const step of plan) expect(step.detail).toMatch(/^SEARCH \w+ USING PRIMARY KEY \(\w+=\?\)( LEFT-JOIN)?$/);
  });
});
