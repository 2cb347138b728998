import { describe, expect, it } from "vitest";
import {
  CODE_REUSE_REASON,
  clientDecider,
  fold,
  graceSuccessor,
  grantDecider,
  isTokenActiveInGrant,
  REFRESH_REUSE_REASON,
  type ClientEvent,
  type ClientState,
  type GrantCommand,
  type GrantEvent,
  type IssuedToken,
} from "../../../services/domain/index.js";
import { decider } from "../../support/decider-spec.js";
import { clientIn, grantCreated, grantRevoked, HOUR, MINUTE, registered, T0 } from "./fixtures.js";

/** Given/when/then for the OAuth flows on the grant aggregate: codes, refresh rotation, client credentials, re-consent. */
const spec = decider(grantDecider);

const SCOPES = ["accounts:read", "offline_access", "openid"];
const CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const OTHER_CHALLENGE = "x".repeat(43);
const REDIRECT = "https://app.example/cb";

const client = clientIn(registered({ allowedScopes: [...SCOPES, "payments:write"] }));
const publicClient = clientIn(registered({ clientType: "public", secretHash: null, allowedScopes: [...SCOPES, "payments:write"] }));
const otherClient = clientIn(registered({ clientId: "cli_2", allowedScopes: SCOPES }));
const clientAfter = (state: ClientState, ...events: ClientEvent[]): ClientState => fold(clientDecider, events, state);

const created = grantCreated({ scopes: SCOPES });

const issueCode = (overrides: Partial<Extract<GrantCommand, { type: "IssueAuthorizationCode" }>> = {}): GrantCommand => ({
  type: "IssueAuthorizationCode",
  now: T0 + MINUTE,
  client,
  subjectRevokedAt: null,
  codeId: "ac_1",
  hash: "k1:code-hash-1",
  ttlMs: MINUTE,
  redirectUri: REDIRECT,
  codeChallenge: CHALLENGE,
  scopes: [],
  ...overrides,
});

const codeIssued = (overrides: Partial<Extract<GrantEvent, { type: "code.issued" }>["data"]> = {}): GrantEvent => ({
  type: "code.issued",
  data: {
    grantId: "grt_1",
    codeId: "ac_1",
    hash: "k1:code-hash-1",
    redirectUri: REDIRECT,
    codeChallenge: CHALLENGE,
    codeChallengeMethod: "S256",
    scopes: SCOPES,
    issuedAt: T0 + MINUTE,
    expiresAt: T0 + 2 * MINUTE,
    ...overrides,
  },
});

const token = (tokenId: string, kind: IssuedToken["kind"], familyId: string, at: number, scopes = SCOPES, ttl = kind === "access_token" ? HOUR : 24 * HOUR): IssuedToken => ({
  tokenId,
  kind,
  hash: `k1:${tokenId}`,
  familyId,
  scopes,
  issuedAt: at,
  expiresAt: at + ttl,
});

const minted = (id: string, ttlMs = id.startsWith("at") ? HOUR : 24 * HOUR) => ({ tokenId: id, hash: `k1:${id}`, ttlMs });

const redeem = (overrides: Partial<Extract<GrantCommand, { type: "RedeemAuthorizationCode" }>> = {}): GrantCommand => ({
  type: "RedeemAuthorizationCode",
  now: T0 + MINUTE + 10_000,
  client,
  subjectRevokedAt: null,
  codeId: "ac_1",
  redirectUri: REDIRECT,
  verifierChallenge: CHALLENGE,
  access: minted("at_1"),
  refresh: minted("rt_1"),
  ...overrides,
});

const REDEEM_AT = T0 + MINUTE + 10_000;
const codeRedeemed = (scopes = SCOPES): GrantEvent => {
  const withRefresh = scopes.includes("offline_access");
  const family = withRefresh ? "rt_1" : "at_1";
  const tokens = [token("at_1", "access_token", family, REDEEM_AT, scopes)];
  if (withRefresh) tokens.push(token("rt_1", "refresh_token", family, REDEEM_AT, scopes));
  return { type: "code.redeemed", data: { grantId: "grt_1", codeId: "ac_1", tokens } };
};

const invalidGrant = (field?: string) => ({ kind: "illegal_state" as const, oauthCode: "invalid_grant" as const, ...(field === undefined ? {} : { field }) });

describe("IssueAuthorizationCode", () => {
  it("issues a code bound to the redirect URI and the S256 challenge, with all effective scopes by default", () => {
    spec.given([created]).when(issueCode()).then([codeIssued()]);
  });

  it("issues a narrower code, and one without a challenge to a confidential client", () => {
    spec
      .given([created])
      .when(issueCode({ scopes: ["openid"], codeChallenge: null }))
      .then([codeIssued({ scopes: ["openid"], codeChallenge: null, codeChallengeMethod: null })]);
  });

  it("never outlives its grant", () => {
    spec
      .given([grantCreated({ scopes: SCOPES, expiresAt: T0 + MINUTE + 30_000 })])
      .when(issueCode())
      .then([codeIssued({ expiresAt: T0 + MINUTE + 30_000 })]);
  });

  it("requires PKCE from a public client", () => {
    spec.given([created]).when(issueCode({ client: publicClient, codeChallenge: null })).thenThrows({ kind: "illegal_state", field: "code_challenge" });
  });

  it("rejects a malformed challenge", () => {
    spec.given([created]).when(issueCode({ codeChallenge: "short" })).thenThrows({ kind: "validation", field: "code_challenge" });
  });

  it("rejects a redirect URI that is not registered exactly", () => {
    spec
      .given([created])
      .when(issueCode({ redirectUri: `${REDIRECT}/extra` }))
      .thenThrows({ kind: "illegal_state", field: "redirect_uri", oauthCode: "invalid_request" });
  });

  it("rejects a scope outside the grant, and one the client no longer allows", () => {
    spec.given([created]).when(issueCode({ scopes: ["payments:write"] })).thenThrows({ oauthCode: "invalid_scope", field: "scopes[0]" });
    const narrowed = clientAfter(client, { type: "client.updated", data: { clientId: "cli_1", name: "Budget App", redirectUris: [REDIRECT], allowedScopes: ["openid"] } });
    spec.given([created]).when(issueCode({ client: narrowed, scopes: ["accounts:read"] })).thenThrows({ oauthCode: "invalid_scope" });
  });

  it.each([
    ["a revoked grant", [created, grantRevoked], {}],
    ["a grant revoked with its subject", [created], { subjectRevokedAt: T0 }],
  ])("rejects %s", (_what, given, overrides) => {
    spec.given(given).when(issueCode(overrides)).thenThrows(invalidGrant());
  });

  it("rejects another client", () => {
    spec.given([created]).when(issueCode({ client: otherClient })).thenThrows(invalidGrant("client_id"));
  });
});

describe("RedeemAuthorizationCode", () => {
  const issued = [created, codeIssued()];

  it("redeems once: access + refresh token in one family (offline_access)", () => {
    spec.given(issued).when(redeem()).then([codeRedeemed()]);
  });

  it("issues no refresh token without offline_access", () => {
    spec.given([created, codeIssued({ scopes: ["openid"] })]).when(redeem()).then([codeRedeemed(["openid"])]);
  });

  it("issues at most the grant's current scopes (re-consent after the code was issued)", () => {
    const narrowed: GrantEvent = { type: "grant.scopes_updated", data: { grantId: "grt_1", scopes: ["openid"] } };
    spec.given([...issued, narrowed]).when(redeem()).then([codeRedeemed(["openid"])]);
  });

  it("a second redemption revokes the family the first issued, in one event naming the reason", () => {
    spec
      .given([...issued, codeRedeemed()])
      .when(redeem({ access: minted("at_2"), refresh: minted("rt_2") }))
      .then([{ type: "token.revoked", data: { grantId: "grt_1", tokenIds: [], familyIds: ["rt_1"], reason: CODE_REUSE_REASON } }]);
  });

  it("a third redemption appends nothing more and is rejected", () => {
    const revoked: GrantEvent = { type: "token.revoked", data: { grantId: "grt_1", tokenIds: [], familyIds: ["rt_1"], reason: CODE_REUSE_REASON } };
    spec.given([...issued, codeRedeemed(), revoked]).when(redeem({ access: minted("at_3"), refresh: minted("rt_3") })).thenThrows(invalidGrant("code"));
  });

  it("the same request retried (same minted ids) is not a reuse", () => {
    spec.given([...issued, codeRedeemed()]).when(redeem()).thenNothing();
  });

  it.each<[string, Partial<Extract<GrantCommand, { type: "RedeemAuthorizationCode" }>>, GrantEvent[], string]>([
    ["another client's code", { client: otherClient }, [], "client_id"],
    ["an expired code", { now: T0 + 2 * MINUTE }, [], "code"],
    ["a wrong redirect URI", { redirectUri: "https://app.example/other" }, [], "redirect_uri"],
    ["a wrong verifier", { verifierChallenge: OTHER_CHALLENGE }, [], "code_verifier"],
    ["a missing verifier", { verifierChallenge: null }, [], "code_verifier"],
    ["an unknown code", { codeId: "ac_9" }, [], "code"],
    ["a revoked grant", {}, [grantRevoked], "grant_id"],
  ])("rejects %s with invalid_grant, issuing nothing", (_what, overrides, extra, field) => {
    spec
      .given([...issued, ...extra])
      .when(redeem(overrides))
      .thenThrows((e) => e.oauthCode === "invalid_grant" && e.kind === "illegal_state" && (field === "grant_id" || e.field === field));
  });

  it("rejects a verifier for a code issued without a challenge (PKCE downgrade)", () => {
    spec.given([created, codeIssued({ codeChallenge: null, codeChallengeMethod: null })]).when(redeem()).thenThrows(invalidGrant("code_verifier"));
  });

  it("redeems a confidential client's code issued without a challenge when no verifier is sent", () => {
    spec
      .given([created, codeIssued({ codeChallenge: null, codeChallengeMethod: null })])
      .when(redeem({ verifierChallenge: null }))
      .then([codeRedeemed()]);
  });

  it("rejects a code issued before the client's tokens were revoked", () => {
    const watermarked = clientAfter(client, { type: "client.tokens_revoked", data: { clientId: "cli_1", reason: "leak", revokedAt: T0 + MINUTE } });
    spec.given(issued).when(redeem({ client: watermarked })).thenThrows(invalidGrant("code"));
  });

  it("rejects a suspended client", () => {
    const suspended = clientAfter(client, { type: "client.suspended", data: { clientId: "cli_1", reason: "abuse" } });
    spec.given(issued).when(redeem({ client: suspended })).thenThrows({ oauthCode: "invalid_client" });
  });
});

describe("RefreshTokens", () => {
  const ROTATE_AT = REDEEM_AT + 10 * MINUTE;
  const withFamily = [created, codeIssued(), codeRedeemed()];
  const refresh = (overrides: Partial<Extract<GrantCommand, { type: "RefreshTokens" }>> = {}): GrantCommand => ({
    type: "RefreshTokens",
    now: ROTATE_AT,
    client,
    subjectRevokedAt: null,
    tokenId: "rt_1",
    scopes: [],
    access: minted("at_2"),
    refresh: minted("rt_2"),
    graceSuccessorId: null,
    ...overrides,
  });
  const rotated = (consumed = "rt_1", n = 2, scopes = SCOPES, at = ROTATE_AT): GrantEvent => ({
    type: "refresh.rotated",
    data: {
      grantId: "grt_1",
      consumedTokenId: consumed,
      tokens: [token(`at_${n}`, "access_token", "rt_1", at, scopes), token(`rt_${n}`, "refresh_token", "rt_1", at, scopes)],
    },
  });

  it("consumes the token and issues the next pair in its family, in one event", () => {
    spec.given(withFamily).when(refresh()).then([rotated()]);
    const state = fold(grantDecider, [...withFamily, rotated()]);
    expect(isTokenActiveInGrant(state, "rt_1", ROTATE_AT)).toBe(false);
    expect(isTokenActiveInGrant(state, "rt_2", ROTATE_AT)).toBe(true);
    expect(state.consumed.get("rt_1")).toEqual({ by: "rt_2", at: ROTATE_AT });
  });

  it("narrows to requested scopes, and to the grant's and client's current ones", () => {
    spec.given(withFamily).when(refresh({ scopes: ["openid"] })).then([rotated("rt_1", 2, ["openid"])]);
    const narrowed: GrantEvent = { type: "grant.scopes_updated", data: { grantId: "grt_1", scopes: ["offline_access", "openid"] } };
    spec.given([...withFamily, narrowed]).when(refresh()).then([rotated("rt_1", 2, ["offline_access", "openid"])]);
  });

  it("rejects a scope the refresh token did not carry", () => {
    spec.given(withFamily).when(refresh({ scopes: ["payments:write"] })).thenThrows({ oauthCode: "invalid_scope", field: "scopes[0]" });
  });

  it("rejects when no scope is left", () => {
    const narrowed: GrantEvent = { type: "grant.scopes_updated", data: { grantId: "grt_1", scopes: ["payments:write"] } };
    spec.given([...withFamily, narrowed]).when(refresh()).thenThrows({ oauthCode: "invalid_scope" });
  });

  it("reuse of a consumed token revokes the family, in one event naming the reason", () => {
    spec
      .given([...withFamily, rotated()])
      .when(refresh({ access: minted("at_3"), refresh: minted("rt_3") }))
      .then([{ type: "refresh.reuse_detected", data: { grantId: "grt_1", tokenId: "rt_1", familyId: "rt_1", reason: REFRESH_REUSE_REASON } }]);
    const state = fold(grantDecider, [
      ...withFamily,
      rotated(),
      { type: "refresh.reuse_detected", data: { grantId: "grt_1", tokenId: "rt_1", familyId: "rt_1", reason: REFRESH_REUSE_REASON } },
    ]);
    for (const id of ["at_1", "rt_1", "at_2", "rt_2"]) expect(isTokenActiveInGrant(state, id, ROTATE_AT)).toBe(false);
  });

  it("the same request retried is not a reuse", () => {
    spec.given([...withFamily, rotated()]).when(refresh()).thenNothing();
  });

  it("within the grace period the caller may hand out the successor: nothing appended", () => {
    const state = fold(grantDecider, [...withFamily, rotated()]);
    expect(graceSuccessor(state, "rt_1", ROTATE_AT + 1000, 5000)).toBe("rt_2");
    expect(graceSuccessor(state, "rt_1", ROTATE_AT + 6000, 5000)).toBeUndefined();
    expect(graceSuccessor(state, "rt_1", ROTATE_AT + 1000, 0)).toBeUndefined();
    spec
      .given([...withFamily, rotated()])
      .when(refresh({ access: minted("at_3"), refresh: minted("rt_3"), graceSuccessorId: "rt_2" }))
      .thenNothing();
  });

  it("no grace once the successor itself was used", () => {
    const twice = [...withFamily, rotated(), rotated("rt_2", 3)];
    expect(graceSuccessor(fold(grantDecider, twice), "rt_1", ROTATE_AT + 1000, 5000)).toBeUndefined();
    spec
      .given(twice)
      .when(refresh({ access: minted("at_4"), refresh: minted("rt_4"), graceSuccessorId: "rt_2" }))
      .then([{ type: "refresh.reuse_detected", data: { grantId: "grt_1", tokenId: "rt_1", familyId: "rt_1", reason: REFRESH_REUSE_REASON } }]);
  });

  it.each<[string, Partial<Extract<GrantCommand, { type: "RefreshTokens" }>>, GrantEvent[]]>([
    ["an access token", { tokenId: "at_1" }, []],
    ["an unknown token", { tokenId: "rt_9" }, []],
    ["another client's token", { client: otherClient }, []],
    ["an expired token", { now: REDEEM_AT + 24 * HOUR }, []],
    ["a revoked family", {}, [{ type: "token.revoked", data: { grantId: "grt_1", tokenIds: [], familyIds: ["rt_1"], reason: "x" } }]],
    ["a revoked grant", {}, [grantRevoked]],
    ["a family revoked after reuse", { access: minted("at_5"), refresh: minted("rt_5") }, [rotated(), { type: "refresh.reuse_detected", data: { grantId: "grt_1", tokenId: "rt_1", familyId: "rt_1", reason: "x" } }]],
  ])("rejects %s with invalid_grant, issuing nothing", (_what, overrides, extra) => {
    spec.given([...withFamily, ...extra]).when(refresh(overrides)).thenThrows({ kind: "illegal_state", oauthCode: "invalid_grant" });
  });

  it("rejects a family started before the client's tokens were revoked", () => {
    const watermarked = clientAfter(client, { type: "client.tokens_revoked", data: { clientId: "cli_1", reason: "leak", revokedAt: REDEEM_AT } });
    spec.given(withFamily).when(refresh({ client: watermarked })).thenThrows(invalidGrant("refresh_token"));
  });

  it("rejects a grant revoked with its subject", () => {
    spec.given(withFamily).when(refresh({ subjectRevokedAt: T0 + HOUR })).thenThrows(invalidGrant());
  });
});

describe("IssueClientCredentials", () => {
  const cc = (overrides: Partial<Extract<GrantCommand, { type: "IssueClientCredentials" }>> = {}): GrantCommand => ({
    type: "IssueClientCredentials",
    now: T0,
    client,
    grantId: "cc_cli_1",
    scopes: [],
    access: minted("at_c1"),
    ...overrides,
  });
  const ccCreated: GrantEvent = {
    type: "grant.created_for_client",
    data: { grantId: "cc_cli_1", clientId: "cli_1", scopes: client.allowedScopes as string[], createdAt: T0 },
  };
  const ccIssued = (id: string, scopes: string[], at = T0): GrantEvent => ({
    type: "token.issued",
    data: { grantId: "cc_cli_1", tokens: [{ ...token(id, "access_token", id, at, scopes) }] },
  });

  it("opens the client's own grant with its first token (one envelope), sub = the client", () => {
    spec.given([]).when(cc()).then([ccCreated, ccIssued("at_c1", [...client.allowedScopes])]);
    const state = fold(grantDecider, [ccCreated]);
    expect(state).toMatchObject({ kind: "client", subject: "cli_1", clientId: "cli_1" });
  });

  it("issues requested scopes within the client's allowed ones, never a refresh token", () => {
    spec.given([ccCreated]).when(cc({ scopes: ["openid"], access: minted("at_c2") })).then([ccIssued("at_c2", ["openid"])]);
  });

  it("follows the client's allowed scopes", () => {
    const narrowed = clientAfter(client, { type: "client.updated", data: { clientId: "cli_1", name: "x", redirectUris: [], allowedScopes: ["openid"] } });
    spec
      .given([ccCreated])
      .when(cc({ client: narrowed, access: minted("at_c2") }))
      .then([{ type: "grant.scopes_updated", data: { grantId: "cc_cli_1", scopes: ["openid"] } }, ccIssued("at_c2", ["openid"])]);
  });

  it.each<[string, Partial<Extract<GrantCommand, { type: "IssueClientCredentials" }>>, GrantEvent[], object]>([
    ["a public client", { client: publicClient }, [], { oauthCode: "unauthorized_client" }],
    ["a scope the client may not ask for", { scopes: ["admin"] }, [], { oauthCode: "invalid_scope" }],
    ["a suspended client", { client: clientAfter(client, { type: "client.suspended", data: { clientId: "cli_1", reason: "x" } }) }, [], { oauthCode: "invalid_client" }],
    ["a revoked client grant", {}, [ccCreated, { type: "grant.revoked", data: { grantId: "cc_cli_1", reason: "x" } }], { oauthCode: "invalid_grant" }],
    ["a user grant", {}, [created], { oauthCode: "invalid_grant" }],
  ])("rejects %s", (_what, overrides, given, expected) => {
    spec.given(given).when(cc(overrides)).thenThrows(expected);
  });

  it("the client's own grant issues nothing else", () => {
    const issueTokens: GrantCommand = { type: "IssueTokens", now: T0, client, subjectRevokedAt: null, scopes: [], access: minted("at_x"), refresh: null };
    spec.given([ccCreated]).when(issueTokens).thenThrows(invalidGrant("grant_id"));
  });
});

describe("UpdateGrantScopes", () => {
  const update = (scopes: string[], overrides: Partial<Extract<GrantCommand, { type: "UpdateGrantScopes" }>> = {}): GrantCommand => ({
    type: "UpdateGrantScopes",
    now: T0 + HOUR,
    client,
    scopes,
    ...overrides,
  });

  it("widens and narrows within the client's allowed scopes (normalized)", () => {
    spec.given([created]).when(update(["payments:write", "openid"])).then([{ type: "grant.scopes_updated", data: { grantId: "grt_1", scopes: ["openid", "payments:write"] } }]);
    spec.given([created]).when(update(["openid"])).then([{ type: "grant.scopes_updated", data: { grantId: "grt_1", scopes: ["openid"] } }]);
  });

  it("appends nothing when the scopes are unchanged", () => {
    spec.given([created]).when(update([...SCOPES].reverse())).thenNothing();
  });

  it.each<[string, string[], Partial<Extract<GrantCommand, { type: "UpdateGrantScopes" }>>, GrantEvent[], object]>([
    ["an empty scope list", [], {}, [created], { kind: "validation", field: "scopes" }],
    ["a scope the client may not ask for", ["admin"], {}, [created], { oauthCode: "invalid_scope", field: "scopes[0]" }],
    ["a revoked grant", ["openid"], {}, [created, grantRevoked], { oauthCode: "invalid_grant" }],
    ["an expired grant", ["openid"], { now: T0 + 31 * 24 * HOUR }, [created], { oauthCode: "invalid_grant" }],
    ["an unknown grant", ["openid"], {}, [], { kind: "not_found" }],
    ["another client", ["openid"], { client: otherClient }, [created], { oauthCode: "invalid_grant" }],
  ])("rejects %s", (_what, scopes, overrides, given, expected) => {
    spec.given(given).when(update(scopes, overrides)).thenThrows(expected);
  });
});
