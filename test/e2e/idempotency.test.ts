import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientType, type RegisterClientRequest } from "../../services/gen/grantledger/v1/client_service.js";
import { actor } from "../support/grpc-clients.js";
import { clientAndGrant, expectRejectedWithoutAppend, introspect, rid, startE2E, type E2E } from "../support/e2e-harness.js";

/** Same request_id, same outcome, one message: retries are safe, even concurrent ones. */
describe("e2e: idempotency by request_id", () => {
  let e2e: E2E;
  beforeAll(async () => {
    e2e = await startE2E();
  });
  afterAll(async () => {
    await e2e?.stop();
  });

  const md = actor("retrying-caller");
  const registration = (requestId: string, patch: Partial<RegisterClientRequest> = {}): RegisterClientRequest => ({
    requestId,
    ownerAccount: "acme",
    name: "Retried app",
    redirectUris: ["https://retry.example.com/cb"],
    allowedScopes: ["zone:read", "offline_access"],
    clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL,
    ...patch,
  });

  it("RegisterClient: the same client_id and the same secret, nothing appended", async () => {
    const requestId = rid();
    const first = await e2e.api.clients.registerClient(registration(requestId), md);
    const head = await e2e.head();
    expect(head).toBe(first.sequence);
    const again = await e2e.api.clients.registerClient(registration(requestId), md);
    const third = await e2e.api.clients.registerClient(registration(requestId), md);
    expect(again).toEqual(first);
    expect(third).toEqual(first);
    expect(first.clientSecret).toMatch(/^gls_/);
    expect(await e2e.head()).toBe(head);
  });

  it("CreateGrant: the same grant_id and sequence, nothing appended", async () => {
    const f = await clientAndGrant(e2e.api);
    const request = { requestId: rid(), subject: `u-${randomUUID()}`, clientId: f.clientId, scopes: ["zone:read"], resources: ["r1"], expiresAt: undefined };
    const first = await e2e.api.grants.createGrant(request, md);
    const head = await e2e.head();
    expect(await e2e.api.grants.createGrant(request, md)).toEqual(first);
    expect(await e2e.head()).toBe(head);
  });

  it("IssueTokens: the very same access and refresh tokens and sequence, nothing appended", async () => {
    const f = await clientAndGrant(e2e.api);
    const request = { requestId: rid(), grantId: f.grantId, scopes: ["zone:read"], includeRefreshToken: true, accessTokenTtlSeconds: 600 };
    const first = await e2e.api.tokens.issueTokens(request, md);
    const head = await e2e.head();
    const again = await e2e.api.tokens.issueTokens(request, md);
    expect(again).toEqual(first);
    expect(again.accessToken).toBe(first.accessToken);
    expect(again.refreshToken).toBe(first.refreshToken);
    expect(await e2e.head()).toBe(head);
    expect((await introspect(e2e.api, first.accessToken, first.sequence)).jti).toBe(first.accessTokenId);
  });

  it("lifecycle and revocation commands: the same sequence, nothing appended", async () => {
    const f = await clientAndGrant(e2e.api);
    const suspend = { requestId: rid(), clientId: f.clientId, reason: "r" };
    const s1 = await e2e.api.clients.suspendClient(suspend, md);
    const head = await e2e.head();
    expect(await e2e.api.clients.suspendClient(suspend, md)).toEqual(s1);
    expect(await e2e.head()).toBe(head);
    await e2e.api.clients.reinstateClient({ requestId: rid(), clientId: f.clientId, reason: "" }, md);
    const revoke = { requestId: rid(), grantId: f.grantId, reason: "r" };
    const r1 = await e2e.api.revocation.revokeGrant(revoke, md);
    const head2 = await e2e.head();
    // A retry of the revocation is not "already revoked": it is the same request, answered the same.
    expect(await e2e.api.revocation.revokeGrant(revoke, md)).toEqual(r1);
    const subject = { requestId: rid(), subject: f.subject, reason: "" };
    const v1 = await e2e.api.revocation.revokeSubject(subject, md);
    expect(await e2e.api.revocation.revokeSubject(subject, md)).toEqual(v1);
    expect(await e2e.head()).toBe(head2 + 1);
  });

  it("the same request_id with different fields → INVALID_ARGUMENT naming request_id, nothing appended", async () => {
    const requestId = rid();
    await e2e.api.clients.registerClient(registration(requestId), md);
    await expectRejectedWithoutAppend(e2e, () => e2e.api.clients.registerClient(registration(requestId, { name: "Another app" }), md), {
      code: status.INVALID_ARGUMENT,
      field: "request_id",
      details: ["request_id"],
    });

    const f = await clientAndGrant(e2e.api);
    const issueId = rid();
    await e2e.api.tokens.issueTokens({ requestId: issueId, grantId: f.grantId, scopes: [], includeRefreshToken: false, accessTokenTtlSeconds: undefined }, md);
    await expectRejectedWithoutAppend(
      e2e,
      () => e2e.api.tokens.issueTokens({ requestId: issueId, grantId: f.grantId, scopes: [], includeRefreshToken: true, accessTokenTtlSeconds: undefined }, md),
      { code: status.INVALID_ARGUMENT, field: "request_id", details: ["request_id"] },
    );
    // Another command with the same request_id is another request, not a reuse: keys are per command.
    const head = await e2e.head();
    const grant = await e2e.api.grants.createGrant(
      { requestId: issueId, subject: "u", clientId: f.clientId, scopes: ["zone:read"], resources: [], expiresAt: undefined },
      md,
    );
    expect(grant.sequence).toBe(head + 1);
  });

  it("a retry sent the moment the first answer arrives gets the same answer (20 rounds)", async () => {
    const f = await clientAndGrant(e2e.api);
    const head = await e2e.head();
    for (let i = 0; i < 20; i++) {
      const request = { requestId: rid(), grantId: f.grantId, scopes: [], includeRefreshToken: i % 2 === 0, accessTokenTtlSeconds: undefined };
      const first = await e2e.api.tokens.issueTokens(request, md);
      expect(await e2e.api.tokens.issueTokens(request, md)).toEqual(first);
    }
    expect(await e2e.head()).toBe(head + 20);
  });

  it("two actors using the same request_id do not collide", async () => {
    const requestId = rid();
    const alice = await e2e.api.clients.registerClient(registration(requestId, { name: "Alice's app" }), actor("alice"));
    const bob = await e2e.api.clients.registerClient(registration(requestId, { name: "Bob's app" }), actor("bob"));
    expect(bob.clientId).not.toBe(alice.clientId);
    expect(bob.clientSecret).not.toBe(alice.clientSecret);
    expect(bob.sequence).toBe(alice.sequence + 1);
    const { client } = await e2e.api.clients.getClient({ clientId: bob.clientId, minSequence: bob.sequence });
    expect(client?.name).toBe("Bob's app");
    expect((await e2e.ledger.ledger.log.get(bob.sequence))?.actor).toBe("bob");
    // Each one's retry still gets its own answer.
    expect(await e2e.api.clients.registerClient(registration(requestId, { name: "Alice's app" }), actor("alice"))).toEqual(alice);

    const f = await clientAndGrant(e2e.api);
    const tokenRequest = { requestId: rid(), grantId: f.grantId, scopes: [], includeRefreshToken: true, accessTokenTtlSeconds: undefined };
    const a = await e2e.api.tokens.issueTokens(tokenRequest, actor("alice"));
    const b = await e2e.api.tokens.issueTokens(tokenRequest, actor("bob"));
    expect(b.accessToken).not.toBe(a.accessToken);
    expect(b.sequence).toBe(a.sequence + 1);
  });

  it("10 concurrent IssueTokens with one request_id → one event, identical tokens (8 rounds)", async () => {
    // Several rounds: the duplicates race the winner's append and its recorded answer differently each time.
    for (let round = 0; round < 8; round++) {
      const f = await clientAndGrant(e2e.api);
      const head = await e2e.head();
      const request = { requestId: rid(), grantId: f.grantId, scopes: [], includeRefreshToken: true, accessTokenTtlSeconds: undefined };
      const answers = await Promise.all(Array.from({ length: 10 }, () => e2e.api.tokens.issueTokens(request, md)));
      expect(await e2e.head()).toBe(head + 1);
      for (const answer of answers) expect(answer).toEqual(answers[0]);
      expect(answers[0]?.sequence).toBe(head + 1);
      expect(await introspect(e2e.api, answers[0]?.refreshToken ?? "", head + 1)).toMatchObject({ active: true, grantId: f.grantId });
    }
  });

  it("5 concurrent RegisterClient with one request_id → one client, one secret", async () => {
    const head = await e2e.head();
    const request = registration(rid());
    const answers = await Promise.all(Array.from({ length: 5 }, () => e2e.api.clients.registerClient(request, md)));
    expect(await e2e.head()).toBe(head + 1);
    for (const answer of answers) expect(answer).toEqual(answers[0]);
  });
});
