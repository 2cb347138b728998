import { createHash, randomBytes, randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientType } from "../../services/gen/grantledger/v1/client_service.js";
import type { LedgerClients } from "../support/grpc-clients.js";
import { expectFailure, expectRejectedWithoutAppend, INACTIVE, introspect, rid, startE2E, tampered, type E2E } from "../support/e2e-harness.js";

/**
 * Issue 3 end to end through real gRPC clients on a real nats-server: authorization codes with PKCE,
 * refresh rotation with reuse detection, client credentials, secret rotation, client and grant scope
 * changes, client-wide token revocation; every rejection appends nothing (or exactly the revocation
 * RFC 9700 asks for) and answers the status and OAuth code the issue names.
 */
const REDIRECT = "https://app.example.com/callback";
const SCOPES = ["account:read", "offline_access", "zone:read"];

const verifier = (): string => randomBytes(32).toString("base64url");
const challengeOf = (v: string): string => createHash("sha256").update(v).digest("base64url");

interface App {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly grantId: string;
}

async function app(api: LedgerClients, type: ClientType, grantScopes = SCOPES): Promise<App> {
  const client = await api.clients.registerClient({
    requestId: rid(),
    ownerAccount: `owner-${randomUUID()}`,
    name: "OAuth app",
    redirectUris: [REDIRECT, "https://app.example.com/other"],
    allowedScopes: [...SCOPES, "dns:read"],
    clientType: type,
  });
  const grant = await api.grants.createGrant({
    requestId: rid(),
    subject: `user-${randomUUID()}`,
    clientId: client.clientId,
    scopes: grantScopes,
    resources: ["acct-1"],
    expiresAt: undefined,
  });
  return { clientId: client.clientId, clientSecret: client.clientSecret, grantId: grant.grantId };
}

function code(api: LedgerClients, a: App, options: { challenge?: string; scopes?: string[]; redirectUri?: string } = {}) {
  return api.tokens.issueAuthorizationCode({
    requestId: rid(),
    grantId: a.grantId,
    redirectUri: options.redirectUri ?? REDIRECT,
    codeChallenge: options.challenge ?? "",
    codeChallengeMethod: options.challenge === undefined ? "" : "S256",
    scopes: options.scopes ?? [],
  });
}

function redeem(api: LedgerClients, a: App, glc: string, options: { verifier?: string; redirectUri?: string; clientId?: string; secret?: string } = {}) {
  return api.tokens.redeemAuthorizationCode({
    requestId: rid(),
    code: glc,
    clientId: options.clientId ?? a.clientId,
    clientSecret: options.secret ?? a.clientSecret,
    redirectUri: options.redirectUri ?? REDIRECT,
    codeVerifier: options.verifier ?? "",
  });
}

function refresh(api: LedgerClients, a: App, token: string, options: { scopes?: string[]; secret?: string; requestId?: string } = {}) {
  return api.tokens.refreshTokens({
    requestId: options.requestId ?? rid(),
    refreshToken: token,
    clientId: a.clientId,
    clientSecret: options.secret ?? a.clientSecret,
    scopes: options.scopes ?? [],
  });
}

const invalidGrant = { code: status.FAILED_PRECONDITION, oauth: "invalid_grant" } as const;
const invalidClient = { code: status.UNAUTHENTICATED, oauth: "invalid_client" } as const;

describe("e2e: OAuth flows", () => {
  let e2e: E2E;
  let api: LedgerClients;
  beforeAll(async () => {
    e2e = await startE2E({ authorizationCodeTtlSeconds: 2, clientAuthFailureBurst: 3, clientAuthFailuresPerMinute: 1 });
    api = e2e.api;
  });
  afterAll(async () => {
    await e2e?.stop();
  });

  describe("authorization code + PKCE", () => {
    it("public client: code (S256) → tokens → introspect → refresh rotation", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_PUBLIC);
      const v = verifier();
      const issued = await code(api, a, { challenge: challengeOf(v) });
      expect(issued.code).toMatch(/^glc_/);
      expect(issued).toMatchObject({ expiresIn: 2, scope: SCOPES.join(" ") });
      const tokens = await redeem(api, a, issued.code, { verifier: v });
      expect(tokens).toMatchObject({ tokenType: "Bearer", scope: SCOPES.join(" "), grantId: a.grantId });
      expect(tokens.accessToken).toMatch(/^gla_/);
      expect(tokens.refreshToken).toMatch(/^glr_/);
      expect(await introspect(api, tokens.accessToken, tokens.sequence)).toMatchObject({ active: true, tokenType: "access_token", clientId: a.clientId });
      expect(await introspect(api, tokens.refreshToken)).toMatchObject({ active: true, tokenType: "refresh_token" });

      const next = await refresh(api, a, tokens.refreshToken, { scopes: ["zone:read"] });
      expect(next).toMatchObject({ scope: "zone:read", grace: false });
      expect(await introspect(api, tokens.refreshToken, next.sequence)).toEqual(INACTIVE);
      expect(await introspect(api, next.refreshToken)).toMatchObject({ active: true, scope: "zone:read", tokenType: "refresh_token" });
      expect(await introspect(api, next.accessToken)).toMatchObject({ active: true, scope: "zone:read" });
    });

    it("confidential client: no refresh token without offline_access; retrying the same request gives the same tokens", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_CONFIDENTIAL);
      const issued = await code(api, a, { scopes: ["zone:read"] });
      const request = { requestId: rid(), code: issued.code, clientId: a.clientId, clientSecret: a.clientSecret, redirectUri: REDIRECT, codeVerifier: "" };
      const first = await api.tokens.redeemAuthorizationCode(request);
      expect(first.refreshToken).toBe("");
      expect(await api.tokens.redeemAuthorizationCode(request)).toEqual(first);
      expect(await introspect(api, first.accessToken, first.sequence)).toMatchObject({ active: true });
    });

    it("a second redemption is invalid_grant and revokes everything the first issued (one event)", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_PUBLIC);
      const v = verifier();
      const issued = await code(api, a, { challenge: challengeOf(v) });
      const tokens = await redeem(api, a, issued.code, { verifier: v });
      const before = await e2e.head();
      await expectFailure(redeem(api, a, issued.code, { verifier: v }), { ...invalidGrant, field: "code" });
      const after = await e2e.head();
      expect(after).toBe(before + 1);
      expect(await introspect(api, tokens.accessToken, after)).toEqual(INACTIVE);
      expect(await introspect(api, tokens.refreshToken)).toEqual(INACTIVE);
      await expectRejectedWithoutAppend(e2e, () => redeem(api, a, issued.code, { verifier: v }), invalidGrant);
    });

    it("rejects every RFC 9700 mismatch with invalid_grant and issues nothing", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_PUBLIC);
      const other = await app(api, ClientType.CLIENT_TYPE_PUBLIC);
      const v = verifier();
      const issued = await code(api, a, { challenge: challengeOf(v) });
      await expectRejectedWithoutAppend(e2e, () => redeem(api, a, issued.code, { verifier: verifier() }), { ...invalidGrant, field: "code_verifier" });
      await expectRejectedWithoutAppend(e2e, () => redeem(api, a, issued.code), { ...invalidGrant, field: "code_verifier" });
      await expectRejectedWithoutAppend(e2e, () => redeem(api, a, issued.code, { verifier: v, redirectUri: "https://app.example.com/other" }), {
        ...invalidGrant,
        field: "redirect_uri",
      });
      await expectRejectedWithoutAppend(e2e, () => redeem(api, other, issued.code, { verifier: v }), { ...invalidGrant, field: "client_id" });
      // The code still works for its own client afterwards: nothing was consumed by the failures.
      expect((await redeem(api, a, issued.code, { verifier: v })).accessToken).toMatch(/^gla_/);
    });

    it("rejects a verifier for a code issued without a challenge, and an expired code", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_CONFIDENTIAL);
      const plain = await code(api, a);
      await expectRejectedWithoutAppend(e2e, () => redeem(api, a, plain.code, { verifier: verifier() }), { ...invalidGrant, field: "code_verifier" });
      const expiring = await code(api, a);
      await new Promise((r) => setTimeout(r, 2100));
      await expectRejectedWithoutAppend(e2e, () => redeem(api, a, expiring.code), { ...invalidGrant, field: "code" });
    });

    it("rejects at issue: public client without PKCE, plain method, unregistered redirect URI; malformed input", async () => {
      const pub = await app(api, ClientType.CLIENT_TYPE_PUBLIC);
      await expectRejectedWithoutAppend(e2e, () => code(api, pub), { code: status.FAILED_PRECONDITION, field: "code_challenge" });
      await expectRejectedWithoutAppend(
        e2e,
        () => api.tokens.issueAuthorizationCode({ requestId: rid(), grantId: pub.grantId, redirectUri: REDIRECT, codeChallenge: challengeOf(verifier()), codeChallengeMethod: "plain", scopes: [] }),
        { code: status.INVALID_ARGUMENT, field: "code_challenge_method" },
      );
      await expectRejectedWithoutAppend(e2e, () => code(api, pub, { challenge: challengeOf(verifier()), redirectUri: "https://evil.example/cb" }), {
        code: status.FAILED_PRECONDITION,
        oauth: "invalid_request",
        field: "redirect_uri",
      });
      await expectRejectedWithoutAppend(e2e, () => redeem(api, pub, "glc_garbage", { verifier: "short" }), { code: status.INVALID_ARGUMENT, field: "code_verifier" });
      await expectRejectedWithoutAppend(e2e, () => redeem(api, pub, "glc_garbage", { verifier: verifier() }), invalidGrant);
    });

    it("authenticates confidential clients: missing or wrong secret → UNAUTHENTICATED invalid_client", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_CONFIDENTIAL);
      const issued = await code(api, a);
      await expectRejectedWithoutAppend(e2e, () => redeem(api, a, issued.code, { secret: "" }), invalidClient);
      await expectRejectedWithoutAppend(e2e, () => redeem(api, a, issued.code, { secret: tampered(a.clientSecret) }), invalidClient);
    });
  });

  describe("refresh rotation", () => {
    it("reuse of a consumed refresh token revokes the whole family and its access tokens", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_CONFIDENTIAL);
      const first = await api.tokens.issueTokens({ requestId: rid(), grantId: a.grantId, scopes: [], includeRefreshToken: true });
      const second = await refresh(api, a, first.refreshToken);
      const before = await e2e.head();
      await expectFailure(refresh(api, a, first.refreshToken), { ...invalidGrant, field: "refresh_token" });
      const after = await e2e.head();
      expect(after).toBe(before + 1);
      for (const t of [first.accessToken, second.accessToken, second.refreshToken]) expect(await introspect(api, t, after)).toEqual(INACTIVE);
      await expectRejectedWithoutAppend(e2e, () => refresh(api, a, second.refreshToken), invalidGrant);
    });

    it("retrying the same request is not reuse: same answer, nothing appended", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_PUBLIC);
      const v = verifier();
      const tokens = await redeem(api, a, (await code(api, a, { challenge: challengeOf(v) })).code, { verifier: v });
      const requestId = rid();
      const once = await refresh(api, a, tokens.refreshToken, { requestId });
      const head = await e2e.head();
      expect(await refresh(api, a, tokens.refreshToken, { requestId })).toEqual(once);
      expect(await e2e.head()).toBe(head);
      expect(await introspect(api, once.refreshToken, head)).toMatchObject({ active: true });
    });

    it("rejects another client's refresh token, a wider scope, an access token", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_PUBLIC);
      const b = await app(api, ClientType.CLIENT_TYPE_PUBLIC);
      const v = verifier();
      const tokens = await redeem(api, a, (await code(api, a, { challenge: challengeOf(v), scopes: ["offline_access", "zone:read"] })).code, { verifier: v });
      await expectRejectedWithoutAppend(e2e, () => refresh(api, b, tokens.refreshToken), { ...invalidGrant, field: "client_id" });
      await expectRejectedWithoutAppend(e2e, () => refresh(api, a, tokens.refreshToken, { scopes: ["account:read"] }), {
        code: status.FAILED_PRECONDITION,
        oauth: "invalid_scope",
      });
      await expectRejectedWithoutAppend(e2e, () => refresh(api, a, tokens.accessToken), { ...invalidGrant, field: "refresh_token" });
    });
  });

  describe("client credentials", () => {
    it("issues a token for the client itself: sub = client_id, no refresh token, scopes within the client's", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_CONFIDENTIAL);
      const cc = await api.tokens.clientCredentials({ requestId: rid(), clientId: a.clientId, clientSecret: a.clientSecret, scopes: ["dns:read"] });
      expect(cc).toMatchObject({ tokenType: "Bearer", scope: "dns:read", expiresIn: 3600 });
      expect(await introspect(api, cc.accessToken, cc.sequence)).toMatchObject({ active: true, sub: a.clientId, clientId: a.clientId, tokenType: "access_token", scope: "dns:read" });
      const all = await api.tokens.clientCredentials({ requestId: rid(), clientId: a.clientId, clientSecret: a.clientSecret, scopes: [] });
      expect(all.scope).toBe("account:read dns:read offline_access zone:read");
      await expectRejectedWithoutAppend(e2e, () => api.tokens.clientCredentials({ requestId: rid(), clientId: a.clientId, clientSecret: a.clientSecret, scopes: ["workers:edit"] }), {
        code: status.FAILED_PRECONDITION,
        oauth: "invalid_scope",
      });
    });

    it("rejects a public client and a wrong secret; rate-limits failed secret checks per client", async () => {
      const pub = await app(api, ClientType.CLIENT_TYPE_PUBLIC);
      await expectRejectedWithoutAppend(e2e, () => api.tokens.clientCredentials({ requestId: rid(), clientId: pub.clientId, clientSecret: "", scopes: [] }), {
        code: status.FAILED_PRECONDITION,
        oauth: "unauthorized_client",
      });
      const a = await app(api, ClientType.CLIENT_TYPE_CONFIDENTIAL);
      const wrong = () => api.tokens.clientCredentials({ requestId: rid(), clientId: a.clientId, clientSecret: "gls_wrong", scopes: [] });
      for (let i = 0; i < 3; i++) await expectRejectedWithoutAppend(e2e, wrong, invalidClient);
      await expectRejectedWithoutAppend(e2e, wrong, { code: status.RESOURCE_EXHAUSTED, oauth: "invalid_client" });
      // Even the right secret waits until the bucket refills.
      await expectFailure(api.tokens.clientCredentials({ requestId: rid(), clientId: a.clientId, clientSecret: a.clientSecret, scopes: [] }), {
        code: status.RESOURCE_EXHAUSTED,
      });
    });
  });

  describe("client and grant management", () => {
    it("RotateClientSecret: the new secret works; the old one only during the overlap", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_CONFIDENTIAL);
      const cc = (secret: string) => api.tokens.clientCredentials({ requestId: rid(), clientId: a.clientId, clientSecret: secret, scopes: [] });
      const overlapped = await api.clients.rotateClientSecret({ requestId: rid(), clientId: a.clientId, overlapSeconds: 3600 });
      expect(overlapped.clientSecret).toMatch(/^gls_/);
      expect(overlapped.previousSecretExpiresAt?.getTime()).toBeGreaterThan(Date.now());
      await cc(a.clientSecret);
      await cc(overlapped.clientSecret);
      const rotated = await api.clients.rotateClientSecret({ requestId: rid(), clientId: a.clientId, overlapSeconds: undefined });
      expect(rotated.previousSecretExpiresAt).toBeUndefined();
      await expectFailure(cc(overlapped.clientSecret), invalidClient);
      await cc(rotated.clientSecret);
      const pub = await app(api, ClientType.CLIENT_TYPE_PUBLIC);
      await expectRejectedWithoutAppend(e2e, () => api.clients.rotateClientSecret({ requestId: rid(), clientId: pub.clientId, overlapSeconds: 0 }), {
        code: status.FAILED_PRECONDITION,
        oauth: "invalid_client",
      });
    });

    it("UpdateClient narrows what existing grants' tokens carry; narrowing to nothing of a token deactivates it", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_CONFIDENTIAL);
      const t = await api.tokens.issueTokens({ requestId: rid(), grantId: a.grantId, scopes: [], includeRefreshToken: false });
      const narrowed = await api.clients.updateClient({
        requestId: rid(),
        clientId: a.clientId,
        name: "",
        redirectUris: [],
        allowedScopes: ["zone:read", "dns:read"],
        updateMask: ["allowed_scopes"],
      });
      expect(await introspect(api, t.accessToken, narrowed.sequence)).toMatchObject({ active: true, scope: "zone:read" });
      const { client } = await api.clients.getClient({ clientId: a.clientId, minSequence: narrowed.sequence });
      expect(client).toMatchObject({ name: "OAuth app", allowedScopes: ["dns:read", "zone:read"] });
      await expectRejectedWithoutAppend(e2e, () => api.tokens.issueTokens({ requestId: rid(), grantId: a.grantId, scopes: ["account:read"], includeRefreshToken: false }), {
        code: status.FAILED_PRECONDITION,
        oauth: "invalid_scope",
      });
      const gone = await api.clients.updateClient({ requestId: rid(), clientId: a.clientId, name: "", redirectUris: [], allowedScopes: ["dns:read"], updateMask: ["allowed_scopes"] });
      expect(await introspect(api, t.accessToken, gone.sequence)).toEqual(INACTIVE);
      await expectRejectedWithoutAppend(e2e, () => api.clients.updateClient({ requestId: rid(), clientId: a.clientId, name: "x", redirectUris: [], allowedScopes: ["nope:x"], updateMask: ["allowed_scopes"] }), {
        code: status.INVALID_ARGUMENT,
        field: "allowed_scopes[0]",
      });
    });

    it("UpdateGrantScopes: tokens keep at most the grant's scopes; nothing left → inactive; outside the client → invalid_scope", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_CONFIDENTIAL);
      const t = await api.tokens.issueTokens({ requestId: rid(), grantId: a.grantId, scopes: ["account:read", "zone:read"], includeRefreshToken: false });
      const narrowed = await api.grants.updateGrantScopes({ requestId: rid(), grantId: a.grantId, scopes: ["zone:read", "dns:read"] });
      expect(narrowed.scopes).toEqual(["dns:read", "zone:read"]);
      expect(await introspect(api, t.accessToken, narrowed.sequence)).toMatchObject({ active: true, scope: "zone:read" });
      const gone = await api.grants.updateGrantScopes({ requestId: rid(), grantId: a.grantId, scopes: ["dns:read"] });
      expect(await introspect(api, t.accessToken, gone.sequence)).toEqual(INACTIVE);
      await expectRejectedWithoutAppend(e2e, () => api.grants.updateGrantScopes({ requestId: rid(), grantId: a.grantId, scopes: ["workers:read"] }), {
        code: status.FAILED_PRECONDITION,
        oauth: "invalid_scope",
      });
      await expectRejectedWithoutAppend(e2e, () => api.grants.updateGrantScopes({ requestId: rid(), grantId: a.grantId, scopes: [] }), { code: status.INVALID_ARGUMENT, field: "scopes" });
    });
  });

  describe("revocation edges", () => {
    it("RevokeToken with another client_id leaves the token alone; RevokeClientTokens deactivates every token without suspending", async () => {
      const a = await app(api, ClientType.CLIENT_TYPE_CONFIDENTIAL);
      const b = await app(api, ClientType.CLIENT_TYPE_CONFIDENTIAL);
      const t = await api.tokens.issueTokens({ requestId: rid(), grantId: a.grantId, scopes: [], includeRefreshToken: true });
      const cc = await api.tokens.clientCredentials({ requestId: rid(), clientId: a.clientId, clientSecret: a.clientSecret, scopes: [] });
      const foreign = await api.revocation.revokeToken({ requestId: rid(), token: t.accessToken, tokenTypeHint: undefined, clientId: b.clientId });
      expect(foreign.sequence).toBe(0);
      expect(await introspect(api, t.accessToken, cc.sequence)).toMatchObject({ active: true });

      const revoked = await api.revocation.revokeClientTokens({ requestId: rid(), clientId: a.clientId, reason: "leaked" });
      for (const token of [t.accessToken, t.refreshToken, cc.accessToken]) expect(await introspect(api, token, revoked.sequence)).toEqual(INACTIVE);
      await expectRejectedWithoutAppend(e2e, () => refresh(api, a, t.refreshToken), invalidGrant);
      const { client } = await api.clients.getClient({ clientId: a.clientId, minSequence: revoked.sequence });
      expect(client?.status).toBe(1);
      const fresh = await api.tokens.issueTokens({ requestId: rid(), grantId: a.grantId, scopes: [], includeRefreshToken: false });
      expect(await introspect(api, fresh.accessToken, fresh.sequence)).toMatchObject({ active: true });
      await expectRejectedWithoutAppend(e2e, () => api.revocation.revokeClientTokens({ requestId: rid(), clientId: "cl_unknown", reason: "" }), { code: status.NOT_FOUND });
    });
  });
});
