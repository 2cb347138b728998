import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { actor } from "../../support/grpc-clients.js";
import { rid } from "../../support/e2e-harness.js";
import { authorizationCode, basic, consent, FORM, form, raw, registerClient, REDIRECT, startHttpE2E, type RawResponse } from "./support.js";

type World = Awaited<ReturnType<typeof startHttpE2E>>;

const verifier = (): string => randomBytes(32).toString("base64url");
const challenge = (v: string): string => createHash("sha256").update(v).digest("base64url");

/** RFC 6749 §5.2 / RFC 7009 / RFC 7662 error shape: status, JSON `error`, never cached. */
function expectError(res: RawResponse, status: number, error: string): void {
  expect({ status: res.status, error: res.json?.["error"] }).toEqual({ status, error });
  expect(typeof res.json?.["error_description"]).toBe("string");
  expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
  expect(res.headers["cache-control"]).toBe("no-store");
}

function expectInvalidClient(res: RawResponse): void {
  expectError(res, 401, "invalid_client");
  expect(res.headers["www-authenticate"]).toMatch(/^Basic realm="grant-ledger"/);
}

describe("HTTP OAuth endpoints: RFC error cases, status, body and headers", () => {
  let world: World;
  let app: { clientId: string; clientSecret: string };
  let publicApp: { clientId: string; clientSecret: string };
  let rs: { clientId: string; clientSecret: string };
  const post = (path: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
    raw(world.issuer, path, { headers: { ...FORM, ...headers }, body: form(body) });
  const token = (body: Record<string, string>, headers: Record<string, string> = {}) => post("/oauth2/token", body, headers);
  const introspect = (t: string) => post("/oauth2/introspect", { token: t }, { authorization: basic(rs.clientId, rs.clientSecret) });

  beforeAll(async () => {
    world = await startHttpE2E({ clientAuthFailureBurst: 3 });
    app = await registerClient(world, "confidential", ["zone:read", "dns:edit", "offline_access"]);
    publicApp = await registerClient(world, "public");
    rs = await registerClient(world, "confidential", ["zone:read"]);
  });
  afterAll(async () => world?.stop());

  describe("POST /oauth2/token", () => {
    it("issues with Cache-Control: no-store and Pragma: no-cache", async () => {
      const res = await token({ grant_type: "client_credentials" }, { authorization: basic(app.clientId, app.clientSecret) });
      expect(res.status).toBe(200);
      expect(res.headers["cache-control"]).toBe("no-store");
      expect(res.headers["pragma"]).toBe("no-cache");
      expect(res.json).toMatchObject({ token_type: "Bearer", expires_in: 3600 });
    });

    it("invalid_request: no grant_type, a missing parameter, two client authentication methods", async () => {
      expectError(await token({ client_id: app.clientId, client_secret: app.clientSecret }), 400, "invalid_request");
      expectError(await token({ grant_type: "authorization_code", redirect_uri: REDIRECT }, { authorization: basic(app.clientId, app.clientSecret) }), 400, "invalid_request");
      expectError(await token({ grant_type: "refresh_token" }, { authorization: basic(app.clientId, app.clientSecret) }), 400, "invalid_request");
      const both = await token({ grant_type: "client_credentials", client_secret: app.clientSecret }, { authorization: basic(app.clientId, app.clientSecret) });
      expectError(both, 400, "invalid_request");
    });

    it("unsupported_grant_type for password, implicit and made-up grants", async () => {
      for (const grantType of ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "x"]) {
        expectError(await token({ grant_type: grantType }, { authorization: basic(app.clientId, app.clientSecret) }), 400, "unsupported_grant_type");
      }
    });

    it("invalid_client (401 + WWW-Authenticate): none sent, wrong secret (Basic and post), unknown client, malformed Basic, no secret from a confidential client", async () => {
      // Wrong secrets spend the client's failed-check budget (3 here): a client of its own.
      const target = await registerClient(world, "confidential");
      expectInvalidClient(await token({ grant_type: "client_credentials" }));
      expectInvalidClient(await token({ grant_type: "client_credentials" }, { authorization: basic(target.clientId, "gls_wrong") }));
      expectInvalidClient(await token({ grant_type: "client_credentials", client_id: target.clientId, client_secret: "wrong" }));
      expectInvalidClient(await token({ grant_type: "client_credentials" }, { authorization: basic("cl_unknown", "secret") }));
      expectInvalidClient(await token({ grant_type: "client_credentials" }, { authorization: "Basic !!!" }));
      expectInvalidClient(await token({ grant_type: "client_credentials" }, { authorization: `Basic ${Buffer.from("no-colon").toString("base64")}` }));
      expectInvalidClient(await token({ grant_type: "client_credentials", client_id: "not a client id" }));
      expectInvalidClient(await token({ grant_type: "client_credentials", client_id: app.clientId }));
    });

    it("429 with Retry-After once a client's failed-secret budget is spent", async () => {
      const victim = await registerClient(world, "confidential");
      for (let i = 0; i < 3; i++) expectInvalidClient(await token({ grant_type: "client_credentials" }, { authorization: basic(victim.clientId, "wrong") }));
      const limited = await token({ grant_type: "client_credentials" }, { authorization: basic(victim.clientId, victim.clientSecret) });
      expectError(limited, 429, "invalid_client");
      expect(limited.headers["retry-after"]).toBe("1");
    });

    it("unauthorized_client: a public client asking for client credentials", async () => {
      expectError(await token({ grant_type: "client_credentials", client_id: publicApp.clientId }), 400, "unauthorized_client");
    });

    it("invalid_scope: a scope the client may not have, a malformed scope", async () => {
      const auth = { authorization: basic(app.clientId, app.clientSecret) };
      expectError(await token({ grant_type: "client_credentials", scope: "workers:edit" }, auth), 400, "invalid_scope");
      expectError(await token({ grant_type: "client_credentials", scope: "zone:read bad\u0001scope" }, auth), 400, "invalid_scope");
    });

    it("invalid_grant: wrong verifier, wrong redirect_uri, another client's code, garbage code, a code redeemed twice", async () => {
      const v = verifier();
      const code = await authorizationCode(world, await consent(world, publicApp.clientId), challenge(v));
      const redeem = (params: Record<string, string>) =>
        token({ grant_type: "authorization_code", client_id: publicApp.clientId, code, redirect_uri: REDIRECT, code_verifier: v, ...params });
      expectError(await redeem({ code_verifier: verifier() }), 400, "invalid_grant");
      expectError(await redeem({ redirect_uri: "https://app.example.com/other" }), 400, "invalid_grant");
      expectError(await token({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: v }, { authorization: basic(app.clientId, app.clientSecret) }), 400, "invalid_grant");
      expectError(await redeem({ code: "glc_garbage" }), 400, "invalid_grant");
      expect((await redeem({})).status).toBe(200);
      expectError(await redeem({}), 400, "invalid_grant");
      // A verifier of the wrong shape is a malformed request, not a wrong one.
      expectError(await redeem({ code_verifier: "short" }), 400, "invalid_request");
    });

    it("invalid_grant: a refresh token presented twice revokes its family", async () => {
      const v = verifier();
      const code = await authorizationCode(world, await consent(world, publicApp.clientId), challenge(v));
      const first = await token({ grant_type: "authorization_code", client_id: publicApp.clientId, code, redirect_uri: REDIRECT, code_verifier: v });
      const refresh = String(first.json?.["refresh_token"]);
      const rotated = await token({ grant_type: "refresh_token", client_id: publicApp.clientId, refresh_token: refresh });
      expect(rotated.status).toBe(200);
      expectError(await token({ grant_type: "refresh_token", client_id: publicApp.clientId, refresh_token: refresh }), 400, "invalid_grant");
      expect((await introspect(String(rotated.json?.["access_token"]))).text).toBe('{"active":false}');
    });
  });

  describe("POST /oauth2/introspect", () => {
    it("401 invalid_client with WWW-Authenticate: no credentials, a wrong secret, a bad API key, a public client", async () => {
      const target = await registerClient(world, "confidential");
      expectInvalidClient(await post("/oauth2/introspect", { token: "gla_x" }));
      expectInvalidClient(await post("/oauth2/introspect", { token: "gla_x" }, { authorization: basic(target.clientId, "wrong") }));
      expectInvalidClient(await post("/oauth2/introspect", { token: "gla_x", client_id: target.clientId, client_secret: "wrong" }));
      expectInvalidClient(await post("/oauth2/introspect", { token: "gla_x" }, { authorization: "Bearer glk_not_a_key" }));
      expectInvalidClient(await post("/oauth2/introspect", { token: "gla_x", client_id: publicApp.clientId }));
    });

    it('{"active":false} and nothing else for unknown, garbage, revoked, expired-family and other kinds of tokens', async () => {
      const issued = await token({ grant_type: "client_credentials" }, { authorization: basic(app.clientId, app.clientSecret) });
      const access = String(issued.json?.["access_token"]);
      expect((await introspect(access)).json).toMatchObject({ active: true });
      const revoked = await post("/oauth2/revoke", { token: access }, { authorization: basic(app.clientId, app.clientSecret) });
      expect(revoked.status).toBe(200);
      const code = await authorizationCode(world, await consent(world, publicApp.clientId), challenge(verifier()));
      for (const t of [access, "gla_unknown", "garbage \u0000 token", `gla_${"A".repeat(49)}`, code, app.clientSecret, "x".repeat(4096)]) {
        const res = await introspect(t);
        expect(res.status).toBe(200);
        expect(res.text).toBe('{"active":false}');
        expect(res.headers["cache-control"]).toBe("no-store");
      }
    });

    it("invalid_request for a missing or oversized token", async () => {
      const auth = { authorization: basic(rs.clientId, rs.clientSecret) };
      expectError(await post("/oauth2/introspect", {}, auth), 400, "invalid_request");
      expectError(await post("/oauth2/introspect", { token: "x".repeat(4097) }, auth), 400, "invalid_request");
    });

    it("accepts client_secret_post as well as Basic", async () => {
      const res = await post("/oauth2/introspect", { token: "gla_x", client_id: rs.clientId, client_secret: rs.clientSecret });
      expect(res.text).toBe('{"active":false}');
    });

    it("refuses a client whose secret was rotated (no overlap) at once", async () => {
      const owner = await registerClient(world, "confidential", ["zone:read"]);
      const ok = await post("/oauth2/introspect", { token: "gla_x" }, { authorization: basic(owner.clientId, owner.clientSecret) });
      expect(ok.status).toBe(200);
      const rotated = await world.api.clients.rotateClientSecret({ requestId: rid(), clientId: owner.clientId, overlapSeconds: 0 }, actor("console"));
      await world.api.introspection.introspect({ token: "gla_x", tokenTypeHint: undefined, minSequence: rotated.sequence });
      expectInvalidClient(await post("/oauth2/introspect", { token: "gla_x" }, { authorization: basic(owner.clientId, owner.clientSecret) }));
      const fresh = await post("/oauth2/introspect", { token: "gla_x" }, { authorization: basic(owner.clientId, rotated.clientSecret) });
      expect(fresh.status).toBe(200);
    });

    it("refuses a suspended client at once, though its secret was verified before", async () => {
      const owner = await registerClient(world, "confidential", ["zone:read"]);
      const auth = { authorization: basic(owner.clientId, owner.clientSecret) };
      expect((await post("/oauth2/introspect", { token: "gla_x" }, auth)).status).toBe(200);
      const suspended = await world.api.clients.suspendClient({ requestId: rid(), clientId: owner.clientId, reason: "test" }, actor("console"));
      await world.api.introspection.introspect({ token: "gla_x", tokenTypeHint: undefined, minSequence: suspended.sequence });
      expectInvalidClient(await post("/oauth2/introspect", { token: "gla_x" }, auth));
    });
  });

  describe("POST /oauth2/revoke", () => {
    const auth = () => ({ authorization: basic(app.clientId, app.clientSecret) });

    it("200 with an empty body for unknown and malformed tokens", async () => {
      for (const t of ["gla_unknown", "garbage", `glr_${"0".repeat(49)}`]) {
        const res = await post("/oauth2/revoke", { token: t, token_type_hint: "refresh_token" }, auth());
        expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: "" });
        expect(res.headers["cache-control"]).toBe("no-store");
      }
    });

    it("a client may only revoke its own tokens: another's answers 200 and stays active", async () => {
      const other = await token({ grant_type: "client_credentials" }, { authorization: basic(rs.clientId, rs.clientSecret) });
      expect(other.status).toBe(200);
      const theirs = String(other.json?.["access_token"]);
      expect((await post("/oauth2/revoke", { token: theirs }, auth())).status).toBe(200);
      expect((await introspect(theirs)).json).toMatchObject({ active: true });
    });

    it("unsupported_token_type for an authorization code or a client secret", async () => {
      const code = await authorizationCode(world, await consent(world, app.clientId), challenge(verifier()));
      expectError(await post("/oauth2/revoke", { token: code }, auth()), 400, "unsupported_token_type");
      expectError(await post("/oauth2/revoke", { token: app.clientSecret }, auth()), 400, "unsupported_token_type");
    });

    it("invalid_request without a token; invalid_client for bad or missing credentials", async () => {
      expectError(await post("/oauth2/revoke", {}, auth()), 400, "invalid_request");
      expectInvalidClient(await post("/oauth2/revoke", { token: "gla_x" }));
      const target = await registerClient(world, "confidential");
      expectInvalidClient(await post("/oauth2/revoke", { token: "gla_x" }, { authorization: basic(target.clientId, "wrong") }));
    });
  });

  it("counts requests by endpoint, status and OAuth error in the Prometheus metrics", async () => {
    const text = await world.ledger.ledger.metrics.registry.render();
    expect(text).toContain('grantledger_http_requests_total{path="/oauth2/token",status="401",error="invalid_client"}');
    expect(text).toMatch(/grantledger_http_requests_total\{path="\/oauth2\/introspect",status="200",error=""\} \d+/);
    expect(text).toContain('grantledger_http_duration_seconds_count{path="/oauth2/revoke"}');
  });

    it("never logs a token, code or secret", async () => {
    const lines = world.ledger.logs.lines.join("\n");
    expect(lines).toContain('"path":"/oauth2/token"');
    for (const secret of [app.clientSecret, rs.clientSecret]) expect(lines).not.toContain(secret);
    expect(lines).not.toMatch(/gl[acrs]_[0-9A-Za-z]{20,}/);
  });
});
