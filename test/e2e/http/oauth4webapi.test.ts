import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizationCode, consent, registerClient, REDIRECT, startHttpE2E } from "./support.js";

type World = Awaited<ReturnType<typeof startHttpE2E>>;

/**
 * panva's oauth4webapi, used exactly as an application uses it: discovery, then each grant and the
 * resource-server calls, every response through the library's own process*Response validation.
 * Plain HTTP on loopback (--insecure-dev), so every call passes `allowInsecureRequests`.
 */
describe("HTTP OAuth endpoints with oauth4webapi", () => {
  let world: World;
  let as: oauth.AuthorizationServer;
  const insecure = { [oauth.allowInsecureRequests]: true } as const;
  let resourceServer: { client: oauth.Client; auth: oauth.ClientAuth };

  beforeAll(async () => {
    world = await startHttpE2E();
    const issuer = new URL(world.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure }));
    const rs = await registerClient(world, "confidential", ["zone:read"]);
    resourceServer = { client: { client_id: rs.clientId }, auth: oauth.ClientSecretBasic(rs.clientSecret) };
  });
  afterAll(async () => world?.stop());

  const introspect = async (token: string) =>
    oauth.processIntrospectionResponse(
      as,
      resourceServer.client,
      await oauth.introspectionRequest(as, resourceServer.client, resourceServer.auth, token, insecure),
    );

  it("discovers metadata that says exactly what is supported", () => {
    expect(as).toMatchObject({
      issuer: world.issuer,
      token_endpoint: `${world.issuer}/oauth2/token`,
      introspection_endpoint: `${world.issuer}/oauth2/introspect`,
      revocation_endpoint: `${world.issuer}/oauth2/revoke`,
      grant_types_supported: ["authorization_code", "refresh_token", "client_credentials"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
      revocation_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
      introspection_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    });
    expect(as.scopes_supported).toContain("zone:read");
    expect(as.authorization_endpoint).toBeUndefined();
  });

  it("redeems a code with PKCE (public client, none), refreshes it, introspects and revokes", async () => {
    const app = await registerClient(world, "public");
    const client: oauth.Client = { client_id: app.clientId };
    const verifier = oauth.generateRandomCodeVerifier();
    const code = await authorizationCode(world, await consent(world, app.clientId), await oauth.calculatePKCECodeChallenge(verifier));
    const callback = oauth.validateAuthResponse(as, client, new URL(`${REDIRECT}?code=${code}`), oauth.expectNoState);

    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), callback, REDIRECT, verifier, insecure),
    );
    expect(tokens.token_type).toBe("bearer");
    expect(tokens.scope?.split(" ").sort()).toEqual(["offline_access", "zone:read"]);
    expect(tokens.access_token).toMatch(/^gla_/);
    expect(tokens.refresh_token).toMatch(/^glr_/);
    expect(tokens.expires_in).toBeGreaterThan(0);

    const info = await introspect(tokens.access_token);
    expect(info).toMatchObject({ active: true, client_id: app.clientId, scope: tokens.scope, token_type: "Bearer", iss: world.issuer });

    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token ?? "", insecure),
    );
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    // Rotation: the consumed refresh token is inactive, the new pair active.
    expect(await introspect(tokens.refresh_token ?? "")).toEqual({ active: false });
    expect((await introspect(refreshed.access_token)).active).toBe(true);

    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, oauth.None(), refreshed.access_token, insecure));
    expect(await introspect(refreshed.access_token)).toEqual({ active: false });
  });

  it("redeems a code for a confidential client with client_secret_basic and refreshes with client_secret_post", async () => {
    const app = await registerClient(world, "confidential");
    const client: oauth.Client = { client_id: app.clientId };
    const verifier = oauth.generateRandomCodeVerifier();
    const code = await authorizationCode(world, await consent(world, app.clientId), await oauth.calculatePKCECodeChallenge(verifier));
    const callback = oauth.validateAuthResponse(as, client, new URL(`${REDIRECT}?code=${code}`), oauth.expectNoState);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(app.clientSecret), callback, REDIRECT, verifier, insecure),
    );
    const narrowed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, oauth.ClientSecretPost(app.clientSecret), tokens.refresh_token ?? "", {
        ...insecure,
        additionalParameters: { scope: "zone:read" },
      }),
    );
    expect(narrowed.scope).toBe("zone:read");
    expect(await introspect(narrowed.access_token)).toMatchObject({ active: true, scope: "zone:read" });
  });

  it("issues client-credentials tokens that introspect with sub = client_id, and revokes them", async () => {
    const app = await registerClient(world, "confidential", ["zone:read", "dns:edit"]);
    const client: oauth.Client = { client_id: app.clientId };
    const auth = oauth.ClientSecretBasic(app.clientSecret);
    const issued = await oauth.processClientCredentialsResponse(
      as,
      client,
      await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: "dns:edit" }, insecure),
    );
    expect(issued).toMatchObject({ token_type: "bearer", scope: "dns:edit" });
    expect(issued.refresh_token).toBeUndefined();
    expect(await introspect(issued.access_token)).toMatchObject({ active: true, sub: app.clientId, client_id: app.clientId, scope: "dns:edit" });

    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, issued.access_token, insecure));
    expect(await introspect(issued.access_token)).toEqual({ active: false });
  });

  it("answers RFC error responses the library recognizes", async () => {
    const app = await registerClient(world, "confidential");
    const client: oauth.Client = { client_id: app.clientId };
    // Wrong secret: 401 invalid_client with a Basic challenge.
    const wrong = oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic("gls_wrong"), {}, insecure);
    await expect(wrong.then((r) => oauth.processClientCredentialsResponse(as, client, r))).rejects.toSatisfy(
      (e: unknown) => e instanceof oauth.WWWAuthenticateChallengeError && e.status === 401 && e.cause[0]?.scheme === "basic",
    );
    // A garbage refresh token: 400 invalid_grant.
    const garbage = await oauth.refreshTokenGrantRequest(as, client, oauth.ClientSecretBasic(app.clientSecret), "glr_garbage", insecure);
    await expect(oauth.processRefreshTokenResponse(as, client, garbage)).rejects.toSatisfy(
      (e: unknown) => e instanceof oauth.ResponseBodyError && e.status === 400 && e.error === "invalid_grant",
    );
  });
});
