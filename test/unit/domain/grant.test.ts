import { describe, expect, it } from "vitest";
import {
  clientIn,
  grantCreated,
  grantRevoked,
  HOUR,
  issueTokens,
  MINUTE,
  registered,
  suspendedClient,
  deletedClient,
  activeClient,
  T0,
  tokensIssued,
} from "./fixtures.js";
import {
  fold,
  type GrantCommand,
  grantDecider,
  type GrantEvent,
  initialClientState,
  initialGrantState,
  isGrantActive,
  isTokenActiveInGrant,
  parseEvent,
} from "../../../services/domain/index.js";
import { decider } from "../../support/decider-spec.js";
import { snapshotOf } from "../../support/snapshot.js";

const spec = decider(grantDecider);

const createGrant = (overrides: Partial<Extract<GrantCommand, { type: "CreateGrant" }>> = {}): GrantCommand => ({
  type: "CreateGrant",
  now: T0,
  grantId: "grt_1",
  subject: "user_1",
  clientId: "cli_1",
  scopes: ["openid", "accounts:read", "openid"],
  resources: ["acct_checking", "acct_checking"],
  expiresAt: T0 + 30 * 24 * HOUR,
  client: activeClient,
  ...overrides,
});

const revokeGrant: GrantCommand = { type: "RevokeGrant", now: T0 + HOUR, reason: "user" };
const revokeToken = (tokenId: string, reason = "user signed out"): GrantCommand => ({ type: "RevokeToken", now: T0 + 2 * MINUTE, tokenId, reason });
const tokenRevoked = (data: { tokenIds?: string[]; familyIds?: string[]; reason?: string }): GrantEvent => ({
  type: "token.revoked",
  data: { grantId: "grt_1", tokenIds: data.tokenIds ?? [], familyIds: data.familyIds ?? [], reason: data.reason ?? "user signed out" },
});

describe("CreateGrant", () => {
  it("creates a grant with normalized scopes and resources de-duplicated in order", () => {
    spec
      .given([])
      .when(createGrant({ resources: ["acct_savings", "acct_checking", "acct_savings"] }))
      .then([grantCreated({ resources: ["acct_savings", "acct_checking"] })]);
  });

  it("creates a grant that never expires", () => {
    spec.given([]).when(createGrant({ expiresAt: null })).then([grantCreated({ expiresAt: null, resources: ["acct_checking"] })]);
  });

  it.each([
    ["active", [grantCreated()]],
    ["revoked", [grantCreated(), grantRevoked]],
  ])("rejects creating over an %s grant", (_status, given) => {
    spec.given(given).when(createGrant()).thenThrows({ kind: "illegal_state", field: "grant_id" });
  });

  it("does not find an unregistered client", () => {
    spec.given([]).when(createGrant({ client: initialClientState })).thenThrows({ kind: "not_found", field: "client_id" });
  });

  it.each([
    ["suspended", suspendedClient],
    ["deleted", deletedClient],
  ])("rejects a %s client", (_status, client) => {
    spec.given([]).when(createGrant({ client })).thenThrows({ kind: "illegal_state", oauthCode: "invalid_client" });
  });

  it("rejects client state that belongs to another client", () => {
    spec
      .given([])
      .when(createGrant({ client: clientIn(registered({ clientId: "cli_2" })) }))
      .thenThrows({ kind: "validation", field: "client_id" });
  });

  it("rejects an empty scope list", () => {
    spec.given([]).when(createGrant({ scopes: [] })).thenThrows({ kind: "validation", field: "scopes", oauthCode: "invalid_scope" });
  });

  it("rejects a scope the client may not ask for, naming it by its normalized index", () => {
    spec
      .given([])
      .when(createGrant({ scopes: ["openid", "admin"] }))
      .thenThrows({ kind: "illegal_state", field: "scopes[0]", oauthCode: "invalid_scope", message: /"admin"/ });
  });

  it.each([
    ["now", T0],
    ["in the past", T0 - 1],
  ])("rejects an expiry %s", (_when, expiresAt) => {
    spec.given([]).when(createGrant({ expiresAt })).thenThrows({ kind: "validation", field: "expires_at" });
  });

  it.each([
    ["grant_id", { grantId: "" }],
    ["subject", { subject: "" }],
  ])("rejects a missing %s", (field, overrides) => {
    spec.given([]).when(createGrant(overrides)).thenThrows({ kind: "validation", field });
  });
});

describe("RevokeGrant", () => {
  it("revokes an active grant", () => {
    spec.given([grantCreated()]).when(revokeGrant).then([grantRevoked]);
  });

  it("revokes an expired grant, so the record says why it ended", () => {
    spec
      .given([grantCreated({ expiresAt: T0 + MINUTE })])
      .when({ ...revokeGrant, now: T0 + HOUR })
      .then([grantRevoked]);
  });

  it("does not find a grant that was never created", () => {
    spec.given([]).when(revokeGrant).thenThrows({ kind: "not_found", field: "grant_id" });
  });

  it("rejects revoking twice", () => {
    spec
      .given([grantCreated(), grantRevoked])
      .when(revokeGrant)
      .thenThrows({ kind: "illegal_state", oauthCode: "invalid_grant", message: "grant already revoked" });
  });
});

describe("IssueTokens", () => {
  it("issues an access token then a refresh token sharing the refresh token's family", () => {
    spec.given([grantCreated()]).when(issueTokens()).then([tokensIssued()]);
  });

  it("issues an access token alone in its own family", () => {
    spec
      .given([grantCreated()])
      .when(issueTokens({ refresh: null }))
      .then([
        {
          type: "token.issued",
          data: {
            grantId: "grt_1",
            tokens: [
              {
                tokenId: "at_1",
                kind: "access_token",
                hash: "k1:access-hash-1",
                familyId: "at_1",
                scopes: ["accounts:read", "openid"],
                issuedAt: T0 + MINUTE,
                expiresAt: T0 + MINUTE + HOUR,
              },
            ],
          },
        },
      ]);
  });

  it("narrows to the requested scopes, normalized", () => {
    const [event] = grantDecider.decide(issueTokens({ scopes: ["openid", "openid"] }), fold(grantDecider, [grantCreated()]));
    expect(event?.type === "token.issued" && event.data.tokens.map((t) => t.scopes)).toEqual([["openid"], ["openid"]]);
  });

  it("caps both tokens at the grant's expiry", () => {
    const grantEnd = T0 + MINUTE + 10_000;
    const [event] = grantDecider.decide(issueTokens(), fold(grantDecider, [grantCreated({ expiresAt: grantEnd })]));
    expect(event?.type === "token.issued" && event.data.tokens.map((t) => t.expiresAt)).toEqual([grantEnd, grantEnd]);
  });

  it("lets tokens run their full ttl under a grant that never expires", () => {
    const [event] = grantDecider.decide(issueTokens(), fold(grantDecider, [grantCreated({ expiresAt: null })]));
    expect(event?.type === "token.issued" && event.data.tokens.map((t) => t.expiresAt)).toEqual([
      T0 + MINUTE + HOUR,
      T0 + MINUTE + 30 * 24 * HOUR,
    ]);
  });

  it("issues under a grant created after the subject's watermark", () => {
    spec.given([grantCreated()]).when(issueTokens({ subjectRevokedAt: T0 - 1 })).then([tokensIssued()]);
  });

  it("does not find a grant that was never created", () => {
    spec.given([]).when(issueTokens()).thenThrows({ kind: "not_found", field: "grant_id" });
  });

  it("rejects a revoked grant", () => {
    spec.given([grantCreated(), grantRevoked]).when(issueTokens()).thenThrows({ kind: "illegal_state", oauthCode: "invalid_grant" });
  });

  it.each([
    ["at", 0],
    ["after", 1],
  ])("rejects a grant %s its expiry", (_when, past) => {
    spec
      .given([grantCreated({ expiresAt: T0 + MINUTE })])
      .when(issueTokens({ now: T0 + MINUTE + past }))
      .thenThrows({ kind: "illegal_state", oauthCode: "invalid_grant", message: /expired/ });
  });

  it.each([
    ["at", T0],
    ["after", T0 + 1],
  ])("rejects a grant whose subject was revoked %s its creation", (_when, subjectRevokedAt) => {
    spec
      .given([grantCreated()])
      .when(issueTokens({ subjectRevokedAt }))
      .thenThrows({ kind: "illegal_state", oauthCode: "invalid_grant", message: /subject/ });
  });

  it.each([
    ["unregistered", initialClientState],
    ["suspended", suspendedClient],
    ["deleted", deletedClient],
  ])("rejects a %s client", (_status, client) => {
    spec.given([grantCreated()]).when(issueTokens({ client })).thenThrows({ kind: "illegal_state", oauthCode: "invalid_client" });
  });

  it("rejects a client the grant was not issued to", () => {
    spec
      .given([grantCreated()])
      .when(issueTokens({ client: clientIn(registered({ clientId: "cli_2" })) }))
      .thenThrows({ kind: "illegal_state", oauthCode: "invalid_grant", field: "client_id" });
  });

  it("rejects a scope outside the grant, even one the client is allowed", () => {
    spec
      .given([grantCreated()])
      .when(issueTokens({ scopes: ["openid", "payments:write"] }))
      .thenThrows({ kind: "illegal_state", field: "scopes[1]", oauthCode: "invalid_scope" });
  });

  it.each([
    ["access.ttl_ms", { access: { tokenId: "at_1", hash: "k1:a", ttlMs: 0 } }],
    ["access.ttl_ms", { access: { tokenId: "at_1", hash: "k1:a", ttlMs: 1.5 } }],
    ["refresh.ttl_ms", { refresh: { tokenId: "rt_1", hash: "k1:r", ttlMs: -1 } }],
    ["access.token_id", { access: { tokenId: "", hash: "k1:a", ttlMs: HOUR } }],
    ["refresh.hash", { refresh: { tokenId: "rt_1", hash: "", ttlMs: HOUR } }],
    ["refresh.token_id", { refresh: { tokenId: "at_1", hash: "k1:r", ttlMs: HOUR } }],
  ])("rejects a bad minted token (%s)", (field, overrides) => {
    spec.given([grantCreated()]).when(issueTokens(overrides)).thenThrows({ kind: "validation", field });
  });

  it("rejects a token id already used in the grant", () => {
    spec
      .given([grantCreated(), tokensIssued()])
      .when(issueTokens({ access: { tokenId: "at_2", hash: "k1:a2", ttlMs: HOUR } }))
      .thenThrows({ kind: "illegal_state", field: "refresh.token_id" });
  });

  it("emits events that pass their schemas", () => {
    const state = fold(grantDecider, [grantCreated()]);
    for (const event of grantDecider.decide(issueTokens(), state)) {
      expect(parseEvent(event.type, 1, structuredClone(event.data))).toEqual(event);
    }
  });
});

describe("RevokeToken", () => {
  const issued = [grantCreated(), tokensIssued()];

  it("revokes an access token by itself", () => {
    spec.given(issued).when(revokeToken("at_1")).then([tokenRevoked({ tokenIds: ["at_1"] })]);
  });

  it("revokes a refresh token's whole family", () => {
    spec.given(issued).when(revokeToken("rt_1")).then([tokenRevoked({ familyIds: ["rt_1"] })]);
  });

  it("revokes a leaked access token's whole family when asked (RevokeLeakedToken)", () => {
    spec
      .given(issued)
      .when({ type: "RevokeToken", now: T0 + 2 * MINUTE, tokenId: "at_1", reason: "access token reported as leaked", wholeFamily: true })
      .then([tokenRevoked({ familyIds: ["rt_1"], reason: "access token reported as leaked" })]);
  });

  it("revokes the family of a refresh token that has expired, whose access token may still be live", () => {
    spec
      .given(issued)
      .when({ ...revokeToken("rt_1"), now: T0 + 31 * 24 * HOUR })
      .then([tokenRevoked({ familyIds: ["rt_1"] })]);
  });

  it("does not find a grant that was never created", () => {
    spec.given([]).when(revokeToken("at_1")).thenThrows({ kind: "not_found", field: "grant_id" });
  });

  it("does not find a token unknown to the grant", () => {
    spec.given(issued).when(revokeToken("at_9")).thenThrows({ kind: "not_found", field: "token" });
  });

  it.each([
    ["an access token revoked by itself", [tokenRevoked({ tokenIds: ["at_1"] })], "at_1"],
    ["an access token whose family is revoked", [tokenRevoked({ familyIds: ["rt_1"] })], "at_1"],
    ["a refresh token whose family is revoked", [tokenRevoked({ familyIds: ["rt_1"] })], "rt_1"],
    ["an access token under a revoked grant", [grantRevoked], "at_1"],
    ["a refresh token under a revoked grant", [grantRevoked], "rt_1"],
  ])("appends nothing for %s (RFC 7009: idempotent)", (_what, revoked, tokenId) => {
    spec
      .given([...issued, ...revoked])
      .when(revokeToken(tokenId))
      .thenNothing();
  });

  it("still revokes the refresh token after its access token alone was revoked", () => {
    spec
      .given([...issued, tokenRevoked({ tokenIds: ["at_1"] })])
      .when(revokeToken("rt_1"))
      .then([tokenRevoked({ familyIds: ["rt_1"] })]);
  });

  it("remembers every revoked family, not just the latest", () => {
    spec
      .given([...issued, tokensIssued(T0 + 2 * MINUTE, 2), tokenRevoked({ familyIds: ["rt_1"] }), tokenRevoked({ familyIds: ["rt_2"] })])
      .when(revokeToken("at_1"))
      .thenNothing();
  });

  it("leaves other families alone", () => {
    spec
      .given([...issued, tokensIssued(T0 + 2 * MINUTE, 2), tokenRevoked({ familyIds: ["rt_1"] })])
      .when(revokeToken("at_2"))
      .then([tokenRevoked({ tokenIds: ["at_2"] })]);
  });
});

describe("grant evolve", () => {
  it("starts with no grant", () => {
    expect(grantDecider.initialState).toBe(initialGrantState);
    expect(initialGrantState).toMatchObject({ status: "none", revokedFamilies: new Set() });
    expect(initialGrantState.tokens.size).toBe(0);
  });

  it("folds a grant's life", () => {
    const created = fold(grantDecider, [grantCreated()]);
    expect(created).toEqual({
      ...initialGrantState,
      status: "active",
      grantId: "grt_1",
      subject: "user_1",
      clientId: "cli_1",
      scopes: ["accounts:read", "openid"],
      resources: ["acct_checking"],
      expiresAt: T0 + 30 * 24 * HOUR,
      createdAt: T0,
    });

    const withTokens = grantDecider.evolve(created, tokensIssued());
    expect(new Map(withTokens.tokens)).toEqual(
      new Map([
        ["at_1", { kind: "access_token", familyId: "rt_1", scopes: ["accounts:read", "openid"], issuedAt: T0 + MINUTE, expiresAt: T0 + MINUTE + HOUR, hash: "k1:access-hash-1", revoked: false }],
        ["rt_1", { kind: "refresh_token", familyId: "rt_1", scopes: ["accounts:read", "openid"], issuedAt: T0 + MINUTE, expiresAt: T0 + 30 * 24 * HOUR, hash: "k1:refresh-hash-1", revoked: false }],
      ]),
    );

    const accessRevoked = grantDecider.evolve(withTokens, tokenRevoked({ tokenIds: ["at_1", "not_in_grant"] }));
    expect(accessRevoked.tokens.get("at_1")?.revoked).toBe(true);
    expect(accessRevoked.tokens.get("rt_1")?.revoked).toBe(false);
    expect(accessRevoked.tokens.has("not_in_grant")).toBe(false);

    const familyRevoked = grantDecider.evolve(accessRevoked, tokenRevoked({ familyIds: ["rt_1"] }));
    expect(familyRevoked.revokedFamilies).toEqual(new Set(["rt_1"]));

    const revoked = grantDecider.evolve(familyRevoked, grantRevoked);
    expect(revoked).toMatchObject({ status: "revoked", revokedReason: "user", grantId: "grt_1" });
  });

  it("never mutates the state it is given", () => {
    const states = [initialGrantState];
    const events = [grantCreated(), tokensIssued(), tokenRevoked({ tokenIds: ["at_1"] }), tokenRevoked({ familyIds: ["rt_1"] }), grantRevoked];
    const snapshots = [snapshotOf(initialGrantState)];
    for (const event of events) {
      const next = grantDecider.evolve(states.at(-1) ?? initialGrantState, event);
      states.push(next);
      snapshots.push(snapshotOf(next));
    }
    expect(states.map(snapshotOf)).toEqual(snapshots);
    expect(states[1]?.tokens.size).toBe(0);
    expect(states[3]?.revokedFamilies.size).toBe(0);
  });
});

describe("isTokenActiveInGrant", () => {
  const now = T0 + 2 * MINUTE;
  const issued = [grantCreated(), tokensIssued()];
  const active = (events: GrantEvent[], tokenId: string, at = now) => isTokenActiveInGrant(fold(grantDecider, events), tokenId, at);

  it("is true for a fresh token", () => {
    expect(active(issued, "at_1")).toBe(true);
    expect(active(issued, "rt_1")).toBe(true);
  });

  it("is false for an unknown token", () => {
    expect(active(issued, "at_9")).toBe(false);
  });

  it("is false at and after the token's expiry", () => {
    expect(active(issued, "at_1", T0 + MINUTE + HOUR - 1)).toBe(true);
    expect(active(issued, "at_1", T0 + MINUTE + HOUR)).toBe(false);
  });

  it("is false once the grant has expired", () => {
    const events = [grantCreated({ expiresAt: T0 + 3 * MINUTE }), tokensIssued()];
    expect(active(events, "rt_1", T0 + 3 * MINUTE - 1)).toBe(true);
    expect(active(events, "rt_1", T0 + 3 * MINUTE)).toBe(false);
  });

  it("is false when revoked by itself, by family or by grant", () => {
    expect(active([...issued, tokenRevoked({ tokenIds: ["at_1"] })], "at_1")).toBe(false);
    expect(active([...issued, tokenRevoked({ tokenIds: ["at_1"] })], "rt_1")).toBe(true);
    expect(active([...issued, tokenRevoked({ familyIds: ["rt_1"] })], "at_1")).toBe(false);
    expect(active([...issued, grantRevoked], "rt_1")).toBe(false);
  });

  it("is false before any grant exists", () => {
    expect(isTokenActiveInGrant(initialGrantState, "at_1", now)).toBe(false);
    expect(isGrantActive(initialGrantState, now)).toBe(false);
  });
});
