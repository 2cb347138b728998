import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientType, type RegisterClientRequest } from "../../services/gen/grantledger/v1/client_service.js";
import type { CreateGrantRequest } from "../../services/gen/grantledger/v1/grant_service.js";
import type { IssueTokensRequest } from "../../services/gen/grantledger/v1/token_service.js";
import { formatToken } from "../../services/domain/shared/token-format.js";
import { actor } from "../support/grpc-clients.js";
import { clientAndGrant, expectRejectedWithoutAppend, issue, rid, startE2E, type E2E, type Fixture } from "../support/e2e-harness.js";

const { INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, UNAVAILABLE } = status;

/**
 * Every RPC refuses bad input with a status that says what to fix, and a refused command appends
 * nothing: the stream's head is compared before and after each call.
 */
describe("e2e: bad input, unknown ids and wrong state", () => {
  let e2e: E2E;
  let f: Fixture;
  const md = actor("e2e-bad-input");
  beforeAll(async () => {
    // A short min_sequence wait, so the UNAVAILABLE case does not take the default 2 s.
    e2e = await startE2E({ minSequenceWaitMs: 300 });
    f = await clientAndGrant(e2e.api, { scopes: ["account:read", "zone:read", "zone:edit"], grantScopes: ["zone:read", "zone:edit"] });
  });
  afterAll(async () => {
    await e2e?.stop();
  });

  const rejected = (call: () => Promise<unknown>, code: status, field: string, extra: { oauth?: string; details?: string[] } = {}) =>
    expectRejectedWithoutAppend(e2e, call, { code, field, details: [field, ...(extra.details ?? [])], ...(extra.oauth === undefined ? {} : { oauth: extra.oauth }) });

  describe("ClientService", () => {
    const register = (patch: Partial<RegisterClientRequest>) => () =>
      e2e.api.clients.registerClient(
        {
          requestId: rid(),
          ownerAccount: "acme",
          name: "App",
          redirectUris: ["https://app.example.com/cb"],
          allowedScopes: ["zone:read"],
          clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL,
          ...patch,
        },
        md,
      );

    it("RegisterClient names the bad field", async () => {
      await rejected(register({ requestId: "" }), INVALID_ARGUMENT, "request_id", { oauth: "invalid_request" });
      await rejected(register({ requestId: "has space" }), INVALID_ARGUMENT, "request_id");
      await rejected(register({ ownerAccount: "" }), INVALID_ARGUMENT, "owner_account");
      await rejected(register({ name: "" }), INVALID_ARGUMENT, "name");
      await rejected(register({ name: "bad\u0000name" }), INVALID_ARGUMENT, "name");
      await rejected(register({ redirectUris: ["not a uri"] }), INVALID_ARGUMENT, "redirect_uris[0]");
      await rejected(register({ redirectUris: ["https://ok.example.com/cb", "http://evil.example.com/cb"] }), INVALID_ARGUMENT, "redirect_uris[1]");
      await rejected(register({ redirectUris: ["https://app.example.com/cb#frag"] }), INVALID_ARGUMENT, "redirect_uris[0]");
      await rejected(register({ redirectUris: ["https://a.example.com", "https://a.example.com"] }), INVALID_ARGUMENT, "redirect_uris");
      await rejected(register({ allowedScopes: [] }), INVALID_ARGUMENT, "allowed_scopes");
      await rejected(register({ allowedScopes: ["zone:read", "not a scope!"] }), INVALID_ARGUMENT, "allowed_scopes[1]");
      await rejected(register({ allowedScopes: ["zone:read", "zone:read"] }), INVALID_ARGUMENT, "allowed_scopes");
      // Well-formed but not in the scope catalog.
      const unknown = await expectRejectedWithoutAppend(e2e, register({ allowedScopes: ["zone:read", "billing:write"] }), {
        code: INVALID_ARGUMENT,
        details: ["allowed_scopes", "billing:write"],
      });
      expect(unknown.metadata.get("gl-field")[0]).toMatch(/^allowed_scopes/);
      await rejected(register({ clientType: ClientType.CLIENT_TYPE_UNSPECIFIED }), INVALID_ARGUMENT, "client_type");
      await rejected(register({ clientType: 42 as ClientType }), INVALID_ARGUMENT, "client_type");
    });

    it("GetClient / ListClients", async () => {
      await rejected(() => e2e.api.clients.getClient({ clientId: "", minSequence: undefined }), INVALID_ARGUMENT, "client_id");
      await rejected(() => e2e.api.clients.getClient({ clientId: "cl/../x", minSequence: undefined }), INVALID_ARGUMENT, "client_id");
      await rejected(() => e2e.api.clients.getClient({ clientId: "cl_doesnotexist", minSequence: undefined }), NOT_FOUND, "client_id");
      await rejected(() => e2e.api.clients.listClients({ ownerAccount: "", minSequence: undefined }), INVALID_ARGUMENT, "owner_account");
    });

    it("Suspend / Reinstate / Delete: bad fields, unknown client, wrong state", async () => {
      const target = await clientAndGrant(e2e.api);
      for (const method of ["suspendClient", "reinstateClient", "deleteClient"] as const) {
        const call = (requestId: string, clientId: string) => () => e2e.api.clients[method]({ requestId, clientId, reason: "" }, md);
        await rejected(call("", target.clientId), INVALID_ARGUMENT, "request_id");
        await rejected(call(rid(), ""), INVALID_ARGUMENT, "client_id");
        await rejected(call(rid(), "cl_unknown00000"), NOT_FOUND, "client_id");
        await rejected(() => e2e.api.clients[method]({ requestId: rid(), clientId: target.clientId, reason: "x".repeat(501) }, md), INVALID_ARGUMENT, "reason");
      }
      // Reinstating an active client: wrong state.
      await expectRejectedWithoutAppend(e2e, () => e2e.api.clients.reinstateClient({ requestId: rid(), clientId: target.clientId, reason: "" }, md), {
        code: FAILED_PRECONDITION,
        oauth: "invalid_client",
        details: ["invalid_client"],
      });
      await e2e.api.clients.deleteClient({ requestId: rid(), clientId: target.clientId, reason: "" }, md);
      for (const method of ["suspendClient", "reinstateClient", "deleteClient"] as const) {
        await expectRejectedWithoutAppend(e2e, () => e2e.api.clients[method]({ requestId: rid(), clientId: target.clientId, reason: "" }, md), {
          code: FAILED_PRECONDITION,
          oauth: "invalid_client",
        });
      }
    });
  });

  describe("GrantService", () => {
    const create = (patch: Partial<CreateGrantRequest>) => () =>
      e2e.api.grants.createGrant(
        { requestId: rid(), subject: "user-1", clientId: f.clientId, scopes: ["zone:read"], resources: ["acct-1"], expiresAt: undefined, ...patch },
        md,
      );

    it("CreateGrant names the bad field", async () => {
      await rejected(create({ requestId: "" }), INVALID_ARGUMENT, "request_id");
      await rejected(create({ subject: "" }), INVALID_ARGUMENT, "subject");
      await rejected(create({ clientId: "" }), INVALID_ARGUMENT, "client_id");
      await rejected(create({ scopes: [] }), INVALID_ARGUMENT, "scopes");
      await rejected(create({ scopes: ["zone:read", "BAD SCOPE"] }), INVALID_ARGUMENT, "scopes[1]");
      await rejected(create({ scopes: ["zone:read", "zone:read"] }), INVALID_ARGUMENT, "scopes");
      await rejected(create({ resources: ["a", "a"] }), INVALID_ARGUMENT, "resources");
      await rejected(create({ resources: ["ok", ""] }), INVALID_ARGUMENT, "resources[1]");
      await rejected(create({ expiresAt: new Date(Date.now() - 60_000) }), INVALID_ARGUMENT, "expires_at");
      const farRequestId = rid();
      await rejected(create({ requestId: farRequestId, expiresAt: new Date(Date.now() + 20 * 366 * 86_400_000) }), INVALID_ARGUMENT, "expires_at");
      // Every RPC, refused ones included, writes its one log line with method, code and request id.
      const lines = e2e.ledger.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l["requestId"] === farRequestId);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ method: "CreateGrant", grpcCode: INVALID_ARGUMENT, actor: "e2e-bad-input" });
      expect(typeof lines[0]?.["durationMs"]).toBe("number");
    });

    it("CreateGrant: unknown client → NOT_FOUND; scope not allowed → invalid_scope; client suspended → invalid_client", async () => {
      await rejected(create({ clientId: "cl_unknown00000" }), NOT_FOUND, "client_id");
      // The field is indexed into the normalized (sorted) scope list; the message names the scope.
      const notAllowed = await expectRejectedWithoutAppend(e2e, create({ scopes: ["zone:read", "dns:edit"] }), {
        code: FAILED_PRECONDITION,
        oauth: "invalid_scope",
        details: ["invalid_scope", "scopes[", "dns:edit"],
      });
      expect(notAllowed.metadata.get("gl-field")[0]).toMatch(/^scopes\[\d\]$/);
      const other = await clientAndGrant(e2e.api);
      await e2e.api.clients.suspendClient({ requestId: rid(), clientId: other.clientId, reason: "" }, md);
      await expectRejectedWithoutAppend(
        e2e,
        () => e2e.api.grants.createGrant({ requestId: rid(), subject: "u", clientId: other.clientId, scopes: ["zone:read"], resources: [], expiresAt: undefined }, md),
        { code: FAILED_PRECONDITION, oauth: "invalid_client", details: ["invalid_client", "suspended"] },
      );
    });

    it("GetGrant / ListGrants", async () => {
      await rejected(() => e2e.api.grants.getGrant({ grantId: "", minSequence: undefined }), INVALID_ARGUMENT, "grant_id");
      await rejected(() => e2e.api.grants.getGrant({ grantId: "gr_unknown00000", minSequence: undefined }), NOT_FOUND, "grant_id");
      await rejected(() => e2e.api.grants.listGrants({ subject: "", clientId: "", minSequence: undefined, includeInactive: false }), INVALID_ARGUMENT, "subject", {
        details: ["client_id"],
      });
      await rejected(() => e2e.api.grants.listGrants({ subject: "u", clientId: f.clientId, minSequence: undefined, includeInactive: false }), INVALID_ARGUMENT, "subject");
    });
  });

  describe("TokenService", () => {
    const issueWith = (patch: Partial<IssueTokensRequest>, grantId = f.grantId) => () =>
      e2e.api.tokens.issueTokens({ requestId: rid(), grantId, scopes: [], includeRefreshToken: true, accessTokenTtlSeconds: undefined, ...patch }, md);

    it("IssueTokens names the bad field", async () => {
      await rejected(issueWith({ requestId: "" }), INVALID_ARGUMENT, "request_id");
      await rejected(issueWith({ grantId: "" }), INVALID_ARGUMENT, "grant_id");
      await rejected(issueWith({ scopes: ["zone:read", "not valid"] }), INVALID_ARGUMENT, "scopes[1]");
      await rejected(issueWith({ accessTokenTtlSeconds: 0 }), INVALID_ARGUMENT, "access_token_ttl_seconds");
      await rejected(issueWith({ accessTokenTtlSeconds: e2e.ledger.config.maxAccessTokenTtlSeconds + 1 }), INVALID_ARGUMENT, "access_token_ttl_seconds");
    });

    it("IssueTokens: unknown grant → NOT_FOUND; scope not in the grant → invalid_scope", async () => {
      await rejected(issueWith({}, "gr_unknown00000"), NOT_FOUND, "grant_id");
      // account:read is allowed for the client, but not granted.
      const notGranted = await expectRejectedWithoutAppend(e2e, issueWith({ scopes: ["zone:read", "account:read"] }), {
        code: FAILED_PRECONDITION,
        oauth: "invalid_scope",
        details: ["invalid_scope", "scopes[", "account:read"],
      });
      expect(notGranted.metadata.get("gl-field")[0]).toMatch(/^scopes\[\d\]$/);
    });

    it("IssueTokens: grant revoked → invalid_grant; client suspended → invalid_client", async () => {
      const g = await clientAndGrant(e2e.api);
      await issue(e2e.api, g.grantId);
      await e2e.api.clients.suspendClient({ requestId: rid(), clientId: g.clientId, reason: "" }, md);
      await expectRejectedWithoutAppend(e2e, issueWith({}, g.grantId), { code: FAILED_PRECONDITION, oauth: "invalid_client", details: ["invalid_client"] });
      await e2e.api.clients.reinstateClient({ requestId: rid(), clientId: g.clientId, reason: "" }, md);
      await issue(e2e.api, g.grantId);
      await e2e.api.revocation.revokeGrant({ requestId: rid(), grantId: g.grantId, reason: "" }, md);
      await expectRejectedWithoutAppend(e2e, issueWith({}, g.grantId), { code: FAILED_PRECONDITION, oauth: "invalid_grant", details: ["invalid_grant"] });
      // A grant of a user signed out everywhere is just as dead.
      const h = await clientAndGrant(e2e.api);
      await e2e.api.revocation.revokeSubject({ requestId: rid(), subject: h.subject, reason: "" }, md);
      await expectRejectedWithoutAppend(e2e, issueWith({}, h.grantId), { code: FAILED_PRECONDITION, oauth: "invalid_grant" });
    });
  });

  describe("IntrospectionService", () => {
    it("Introspect: an empty token is INVALID_ARGUMENT; a min_sequence beyond the log is UNAVAILABLE", async () => {
      await rejected(() => e2e.api.introspection.introspect({ token: "", tokenTypeHint: undefined, minSequence: undefined }), INVALID_ARGUMENT, "token");
      await rejected(() => e2e.api.introspection.introspect({ token: "x".repeat(5000), tokenTypeHint: undefined, minSequence: undefined }), INVALID_ARGUMENT, "token");
      const head = await e2e.head();
      await rejected(() => e2e.api.introspection.introspect({ token: formatToken("access_token", new Uint8Array(32)), tokenTypeHint: undefined, minSequence: head + 1000 }), UNAVAILABLE, "min_sequence");
    });
  });

  describe("RevocationService", () => {
    it("RevokeToken names the bad field", async () => {
      const call = (requestId: string, token: string, clientId?: string) => () =>
        e2e.api.revocation.revokeToken({ requestId, token, tokenTypeHint: undefined, clientId }, md);
      await rejected(call("", "gla_x"), INVALID_ARGUMENT, "request_id");
      await rejected(call(rid(), ""), INVALID_ARGUMENT, "token");
      await rejected(call(rid(), "gla_x", "not an id!"), INVALID_ARGUMENT, "client_id");
    });

    it("RevokeGrant: bad fields, unknown grant, already revoked", async () => {
      const call = (requestId: string, grantId: string) => () => e2e.api.revocation.revokeGrant({ requestId, grantId, reason: "" }, md);
      await rejected(call("", f.grantId), INVALID_ARGUMENT, "request_id");
      await rejected(call(rid(), ""), INVALID_ARGUMENT, "grant_id");
      await rejected(call(rid(), "gr_unknown00000"), NOT_FOUND, "grant_id");
      const g = await clientAndGrant(e2e.api);
      await e2e.api.revocation.revokeGrant({ requestId: rid(), grantId: g.grantId, reason: "" }, md);
      await expectRejectedWithoutAppend(e2e, call(rid(), g.grantId), { code: FAILED_PRECONDITION, oauth: "invalid_grant" });
    });

    it("RevokeSubject names the bad field", async () => {
      const call = (requestId: string, subject: string) => () => e2e.api.revocation.revokeSubject({ requestId, subject, reason: "" }, md);
      await rejected(call("", "user-1"), INVALID_ARGUMENT, "request_id");
      await rejected(call(rid(), ""), INVALID_ARGUMENT, "subject");
      await rejected(call(rid(), "user\nnewline"), INVALID_ARGUMENT, "subject");
    });
  });
});
