import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientStatus, ClientType } from "../../services/gen/grantledger/v1/client_service.js";
import { GrantStatus } from "../../services/gen/grantledger/v1/grant_service.js";
import { parseTokenKind } from "../../services/domain/shared/token-format.js";
import { actor } from "../support/grpc-clients.js";
import { introspect, rid, startE2E, type E2E } from "../support/e2e-harness.js";

/**
 * The whole story through real gRPC clients on a real nats-server: register apps, grant consent,
 * issue tokens, introspect them; every command returns a sequence that queries can wait for.
 */
describe("e2e: register → grant → issue → introspect", () => {
  let e2e: E2E;
  beforeAll(async () => {
    e2e = await startE2E();
  });
  afterAll(async () => {
    await e2e?.stop();
  });

  const owner = `acme-${randomUUID()}`;
  const subject = `user-${randomUUID()}`;
  const dev = actor("dev@acme.test");
  let confidentialId = "";
  let publicId = "";
  let grantId = "";
  let publicGrantId = "";
  let lastSeq = 0;

  it("registers a confidential client (gls_ secret) and a public one (no secret)", async () => {
    const { api } = e2e;
    const confidential = await api.clients.registerClient(
      {
        requestId: rid(),
        ownerAccount: owner,
        name: "Acme Dashboard",
        redirectUris: ["https://acme.example.com/cb", "http://127.0.0.1:8080/cb"],
        allowedScopes: ["account:read", "zone:read", "zone:edit", "dns:read", "offline_access"],
        clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL,
      },
      dev,
    );
    expect(confidential.clientId).not.toBe("");
    expect(confidential.clientSecret).toMatch(/^gls_[0-9A-Za-z]+$/);
    expect(parseTokenKind(confidential.clientSecret)).toBe("client_secret");
    expect(confidential.sequence).toBeGreaterThan(0);

    const pub = await api.clients.registerClient(
      {
        requestId: rid(),
        ownerAccount: owner,
        name: "Acme CLI",
        redirectUris: ["com.acme.cli:/oauth"],
        allowedScopes: ["zone:read", "workers:read"],
        clientType: ClientType.CLIENT_TYPE_PUBLIC,
      },
      dev,
    );
    expect(pub.clientSecret).toBe("");
    expect(pub.clientId).not.toBe(confidential.clientId);
    expect(pub.sequence).toBeGreaterThan(confidential.sequence);
    confidentialId = confidential.clientId;
    publicId = pub.clientId;
    lastSeq = pub.sequence;
  });

  it("GetClient and ListClients (by owner) see the registrations at min_sequence", async () => {
    const { api } = e2e;
    const { client } = await api.clients.getClient({ clientId: confidentialId, minSequence: lastSeq });
    expect(client).toMatchObject({
      clientId: confidentialId,
      ownerAccount: owner,
      name: "Acme Dashboard",
      redirectUris: ["https://acme.example.com/cb", "http://127.0.0.1:8080/cb"],
      // Scopes come back in canonical (sorted) order.
      allowedScopes: ["account:read", "dns:read", "offline_access", "zone:edit", "zone:read"],
      clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL,
      status: ClientStatus.CLIENT_STATUS_ACTIVE,
    });
    expect(client?.sequence).toBeGreaterThan(0);
    expect(client?.createdAt).toBeInstanceOf(Date);
    expect(Math.abs((client?.createdAt?.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);

    const { client: pub } = await api.clients.getClient({ clientId: publicId, minSequence: lastSeq });
    expect(pub?.clientType).toBe(ClientType.CLIENT_TYPE_PUBLIC);
    expect(pub?.redirectUris).toEqual(["com.acme.cli:/oauth"]);

    const listed = await api.clients.listClients({ ownerAccount: owner, minSequence: lastSeq });
    expect(listed.clients.map((c) => c.clientId).sort()).toEqual([confidentialId, publicId].sort());
    const other = await api.clients.listClients({ ownerAccount: `nobody-${randomUUID()}`, minSequence: lastSeq });
    expect(other.clients).toEqual([]);
  });

  it("CreateGrant, GetGrant, ListGrants by subject and by client", async () => {
    const { api } = e2e;
    const expiresAt = new Date(Date.now() + 7 * 86_400_000);
    const created = await api.grants.createGrant(
      {
        requestId: rid(),
        subject,
        clientId: confidentialId,
        scopes: ["account:read", "zone:read", "zone:edit", "offline_access"],
        resources: ["acct-1", "acct-2"],
        expiresAt,
      },
      actor("consent-ui"),
    );
    expect(created.grantId).not.toBe("");
    expect(created.sequence).toBeGreaterThan(lastSeq);
    grantId = created.grantId;

    const second = await api.grants.createGrant(
      { requestId: rid(), subject, clientId: publicId, scopes: ["zone:read"], resources: [], expiresAt: undefined },
      actor("consent-ui"),
    );
    publicGrantId = second.grantId;
    lastSeq = second.sequence;

    const { grant } = await api.grants.getGrant({ grantId, minSequence: lastSeq });
    expect(grant).toMatchObject({
      grantId,
      subject,
      clientId: confidentialId,
      clientName: "Acme Dashboard",
      scopes: ["account:read", "offline_access", "zone:edit", "zone:read"],
      resources: ["acct-1", "acct-2"],
      status: GrantStatus.GRANT_STATUS_ACTIVE,
      statusReason: "",
    });
    expect(Math.abs((grant?.expiresAt?.getTime() ?? 0) - expiresAt.getTime())).toBeLessThan(1000);
    expect(grant?.sequence).toBe(created.sequence);

    const bySubject = await api.grants.listGrants({ subject, clientId: "", minSequence: lastSeq, includeInactive: false });
    expect(bySubject.grants.map((g) => g.grantId).sort()).toEqual([grantId, publicGrantId].sort());
    const byClient = await api.grants.listGrants({ subject: "", clientId: publicId, minSequence: lastSeq, includeInactive: false });
    expect(byClient.grants.map((g) => g.grantId)).toEqual([publicGrantId]);
    expect(byClient.grants[0]).toMatchObject({ subject, scopes: ["zone:read"], resources: [], clientName: "Acme CLI" });
  });

  it("ListGrants hides a revoked grant unless include_inactive is true", async () => {
    const { api } = e2e;
    const revoked = await api.revocation.revokeGrant({ requestId: rid(), grantId: publicGrantId, reason: "user disconnected the CLI" }, actor("consent-ui"));
    expect(revoked.sequence).toBeGreaterThan(lastSeq);
    lastSeq = revoked.sequence;

    const active = await api.grants.listGrants({ subject, clientId: "", minSequence: lastSeq, includeInactive: false });
    expect(active.grants.map((g) => g.grantId)).toEqual([grantId]);
    const all = await api.grants.listGrants({ subject, clientId: "", minSequence: lastSeq, includeInactive: true });
    expect(all.grants.map((g) => g.grantId).sort()).toEqual([grantId, publicGrantId].sort());
    const gone = all.grants.find((g) => g.grantId === publicGrantId);
    expect(gone?.status).toBe(GrantStatus.GRANT_STATUS_REVOKED);
    expect(gone?.statusReason).toContain("user disconnected the CLI");

    const byClientActive = await api.grants.listGrants({ subject: "", clientId: publicId, minSequence: lastSeq, includeInactive: false });
    expect(byClientActive.grants).toEqual([]);
    const byClientAll = await api.grants.listGrants({ subject: "", clientId: publicId, minSequence: lastSeq, includeInactive: true });
    expect(byClientAll.grants.map((g) => [g.grantId, g.status])).toEqual([[publicGrantId, GrantStatus.GRANT_STATUS_REVOKED]]);
  });

  it("IssueTokens with a refresh token and all granted scopes; Introspect answers every field", async () => {
    const { api } = e2e;
    const before = Math.floor(Date.now() / 1000);
    const issued = await api.tokens.issueTokens(
      { requestId: rid(), grantId, scopes: [], includeRefreshToken: true, accessTokenTtlSeconds: undefined },
      actor("auth-server"),
    );
    expect(issued.accessToken).toMatch(/^gla_/);
    expect(parseTokenKind(issued.accessToken)).toBe("access_token");
    expect(issued.refreshToken).toMatch(/^glr_/);
    expect(parseTokenKind(issued.refreshToken)).toBe("refresh_token");
    expect(issued.accessTokenId).not.toBe("");
    expect(issued.refreshTokenId).not.toBe("");
    expect(issued.accessTokenId).not.toBe(issued.refreshTokenId);
    expect(issued.expiresIn).toBe(e2e.ledger.config.accessTokenTtlSeconds);
    expect(issued.scope).toBe("account:read offline_access zone:edit zone:read");
    expect(issued.sequence).toBeGreaterThan(lastSeq);
    lastSeq = issued.sequence;

    const access = await introspect(api, issued.accessToken, issued.sequence);
    expect(access).toEqual({
      active: true,
      scope: "account:read offline_access zone:edit zone:read",
      clientId: confidentialId,
      sub: subject,
      exp: access.iat + e2e.ledger.config.accessTokenTtlSeconds,
      iat: access.iat,
      tokenType: "access_token",
      jti: issued.accessTokenId,
      grantId,
      resources: ["acct-1", "acct-2"],
    });
    // Seconds, not milliseconds.
    expect(access.iat).toBeGreaterThanOrEqual(before);
    expect(access.iat).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));

    const refresh = await introspect(api, issued.refreshToken, issued.sequence);
    expect(refresh).toMatchObject({
      active: true,
      clientId: confidentialId,
      sub: subject,
      tokenType: "refresh_token",
      jti: issued.refreshTokenId,
      grantId,
      resources: ["acct-1", "acct-2"],
    });
    // The refresh TTL (30 days) outlives the grant (7 days): a token never outlives its grant.
    const grantExp = (await api.grants.getGrant({ grantId, minSequence: issued.sequence })).grant?.expiresAt?.getTime() ?? 0;
    expect(refresh.exp).toBe(Math.floor(grantExp / 1000));
    expect(refresh.exp - refresh.iat).toBeLessThan(e2e.ledger.config.refreshTokenTtlSeconds);

    // The hint is only a hint: a wrong one does not change the answer.
    const hinted = await api.introspection.introspect({ token: issued.accessToken, tokenTypeHint: "refresh_token", minSequence: issued.sequence });
    expect(hinted.active).toBe(true);
    expect(hinted.tokenType).toBe("access_token");
  });

  it("IssueTokens without a refresh token, with a scope subset and a custom TTL", async () => {
    const { api } = e2e;
    const issued = await api.tokens.issueTokens(
      { requestId: rid(), grantId, scopes: ["zone:read", "account:read"], includeRefreshToken: false, accessTokenTtlSeconds: 120 },
      actor("auth-server"),
    );
    expect(issued.refreshToken).toBe("");
    expect(issued.refreshTokenId).toBe("");
    expect(issued.expiresIn).toBe(120);
    expect(issued.scope.split(" ").sort()).toEqual(["account:read", "zone:read"]);
    expect(issued.sequence).toBeGreaterThan(lastSeq);
    lastSeq = issued.sequence;

    const answer = await introspect(api, issued.accessToken, issued.sequence);
    expect(answer.active).toBe(true);
    expect(answer.scope.split(" ").sort()).toEqual(["account:read", "zone:read"]);
    expect(answer.exp - answer.iat).toBe(120);
    expect(answer.jti).toBe(issued.accessTokenId);
    expect(answer.tokenType).toBe("access_token");
  });

  it("every command's sequence is visible to queries carrying it as min_sequence", async () => {
    const { api } = e2e;
    // No sleeps: each query waits for exactly the sequence the command returned.
    for (let i = 0; i < 5; i++) {
      const c = await api.clients.registerClient(
        {
          requestId: rid(),
          ownerAccount: owner,
          name: `App ${i}`,
          redirectUris: [],
          allowedScopes: ["dns:read"],
          clientType: ClientType.CLIENT_TYPE_PUBLIC,
        },
        dev,
      );
      expect((await api.clients.getClient({ clientId: c.clientId, minSequence: c.sequence })).client?.sequence).toBe(c.sequence);
      const g = await api.grants.createGrant(
        { requestId: rid(), subject: `${subject}-${i}`, clientId: c.clientId, scopes: ["dns:read"], resources: [], expiresAt: undefined },
        dev,
      );
      expect(g.sequence).toBe(c.sequence + 1);
      expect((await api.grants.getGrant({ grantId: g.grantId, minSequence: g.sequence })).grant?.status).toBe(GrantStatus.GRANT_STATUS_ACTIVE);
      const t = await api.tokens.issueTokens({ requestId: rid(), grantId: g.grantId, scopes: [], includeRefreshToken: false, accessTokenTtlSeconds: undefined }, dev);
      expect((await introspect(api, t.accessToken, t.sequence)).active).toBe(true);
      const s = await api.clients.suspendClient({ requestId: rid(), clientId: c.clientId, reason: "" }, dev);
      expect(s.sequence).toBeGreaterThan(t.sequence);
      expect((await api.clients.getClient({ clientId: c.clientId, minSequence: s.sequence })).client?.status).toBe(ClientStatus.CLIENT_STATUS_SUSPENDED);
      expect((await introspect(api, t.accessToken, s.sequence)).active).toBe(false);
    }
    expect(await e2e.head()).toBeGreaterThanOrEqual(lastSeq + 5 * 4);
  });

  it("events record the caller's x-actor, request id, time and the aggregate's hash chain", async () => {
    const { api, ledger } = e2e;
    const log = ledger.ledger.log;
    const clientReq = rid();
    const started = Date.now();
    const c = await api.clients.registerClient(
      {
        requestId: clientReq,
        ownerAccount: owner,
        name: "Chained",
        redirectUris: [],
        allowedScopes: ["zone:read"],
        clientType: ClientType.CLIENT_TYPE_PUBLIC,
      },
      actor("alice@acme.test"),
    );
    const suspendReq = rid();
    const s = await api.clients.suspendClient({ requestId: suspendReq, clientId: c.clientId, reason: "audit" }, actor("bob@acme.test"));
    const reinstateReq = rid();
    const r = await api.clients.reinstateClient({ requestId: reinstateReq, clientId: c.clientId, reason: "" }, actor("carol@acme.test"));
    // Another aggregate's event in between must not break the chain of this one.
    const anon = await api.clients.registerClient({
      requestId: rid(),
      ownerAccount: owner,
      name: "Nameless caller",
      redirectUris: [],
      allowedScopes: ["zone:read"],
      clientType: ClientType.CLIENT_TYPE_PUBLIC,
    });
    const d = await api.clients.deleteClient({ requestId: rid(), clientId: c.clientId, reason: "done" }, actor("dave@acme.test"));
    const finished = Date.now();

    const registered = await log.get(c.sequence);
    const suspended = await log.get(s.sequence);
    const reinstated = await log.get(r.sequence);
    const other = await log.get(anon.sequence);
    const deleted = await log.get(d.sequence);
    expect(registered).toMatchObject({ seq: c.sequence, actor: "alice@acme.test", requestId: clientReq, prev: null, aggregate: { kind: "client", id: c.clientId } });
    expect(registered?.events.map((e) => e.type)).toEqual(["client.registered"]);
    expect(suspended).toMatchObject({ actor: "bob@acme.test", requestId: suspendReq, prev: registered?.hash });
    expect(suspended?.events.map((e) => e.type)).toEqual(["client.suspended"]);
    expect(reinstated).toMatchObject({ actor: "carol@acme.test", requestId: reinstateReq, prev: suspended?.hash });
    expect(other).toMatchObject({ actor: "anonymous", prev: null, aggregate: { kind: "client", id: anon.clientId } });
    expect(deleted).toMatchObject({ actor: "dave@acme.test", prev: reinstated?.hash });
    for (const envelope of [registered, suspended, reinstated, other, deleted]) {
      expect(envelope?.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(envelope?.at).toBeGreaterThanOrEqual(started - 5);
      expect(envelope?.at).toBeLessThanOrEqual(finished + 5);
    }
    // Hashes are distinct, so the chain really links one message to the one before it.
    expect(new Set([registered, suspended, reinstated, other, deleted].map((e) => e?.hash)).size).toBe(5);

    // A grant's and its tokens' events chain on the grant, with each command's actor.
    const g = await api.grants.createGrant(
      { requestId: rid(), subject, clientId: confidentialId, scopes: ["zone:read"], resources: [], expiresAt: undefined },
      actor("consent-ui"),
    );
    const tokenReq = rid();
    const t = await api.tokens.issueTokens(
      { requestId: tokenReq, grantId: g.grantId, scopes: [], includeRefreshToken: false, accessTokenTtlSeconds: undefined },
      actor("auth-server"),
    );
    const rv = await api.revocation.revokeToken({ requestId: rid(), token: t.accessToken, tokenTypeHint: undefined, clientId: undefined }, actor("resource-server"));
    const grantEvent = await log.get(g.sequence);
    const tokenEvent = await log.get(t.sequence);
    const revokeEvent = await log.get(rv.sequence);
    expect(grantEvent).toMatchObject({ actor: "consent-ui", prev: null, aggregate: { kind: "grant", id: g.grantId } });
    expect(tokenEvent).toMatchObject({ actor: "auth-server", requestId: tokenReq, prev: grantEvent?.hash, aggregate: { kind: "grant", id: g.grantId } });
    expect(tokenEvent?.events.map((e) => e.type)).toEqual(["token.issued"]);
    expect(revokeEvent).toMatchObject({ actor: "resource-server", prev: tokenEvent?.hash });
    expect(revokeEvent?.events.map((e) => e.type)).toEqual(["token.revoked"]);
  });
});
