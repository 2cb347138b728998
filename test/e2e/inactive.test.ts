import { setTimeout as sleep } from "node:timers/promises";
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { status } from "@grpc/grpc-js";
import { formatToken } from "../../services/domain/shared/token-format.js";
import { GrantStatus } from "../../services/gen/grantledger/v1/grant_service.js";
import { actor } from "../support/grpc-clients.js";
import { clientAndGrant, expectRejectedWithoutAppend, INACTIVE, introspect, issue, rid, startE2E, type E2E } from "../support/e2e-harness.js";

/**
 * Every way a token stops being active answers exactly `{active:false}` and nothing else, and
 * revocation is visible at once to a query carrying the revoking command's sequence (no sleeps).
 */
describe("e2e: inactive tokens answer active=false and nothing else", () => {
  let e2e: E2E;
  beforeAll(async () => {
    e2e = await startE2E();
  });
  afterAll(async () => {
    await e2e?.stop();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const expectActive = async (token: string, minSequence: number): Promise<void> => {
    const answer = await introspect(e2e.api, token, minSequence);
    expect(answer.active).toBe(true);
    expect(answer.jti).not.toBe("");
  };
  const expectInactive = async (token: string, minSequence?: number): Promise<void> => {
    expect(await introspect(e2e.api, token, minSequence)).toEqual(INACTIVE);
  };

  it("unknown well-formed tokens, malformed tokens and bad checksums", async () => {
    const head = await e2e.head();
    // Well-formed, right checksum, never issued.
    await expectInactive(formatToken("access_token", new Uint8Array(32).fill(7)), head);
    await expectInactive(formatToken("refresh_token", new Uint8Array(32).fill(9)), head);
    // A client secret is never a token that introspects as active.
    const f = await clientAndGrant(e2e.api);
    await expectInactive(f.clientSecret, f.sequence);
    // Garbage of every shape.
    for (const garbage of ["x", "gla_", "not a token at all", "gla_" + "A".repeat(49), "Bearer gla_abc", "🙂".repeat(20)]) {
      await expectInactive(garbage);
    }
    // A real token with one character of its body or checksum changed.
    const issued = await issue(e2e.api, f.grantId);
    await expectActive(issued.accessToken, issued.sequence);
    const flip = (token: string, at: number): string => {
      const c = token[at] === "A" ? "B" : "A";
      return token.slice(0, at) + c + token.slice(at + 1);
    };
    await expectInactive(flip(issued.accessToken, 10));
    await expectInactive(flip(issued.accessToken, issued.accessToken.length - 1));
    await expectInactive(issued.accessToken.slice(0, -1));
    await expectInactive(issued.accessToken + "0");
    // The right body under another prefix fails the checksum too.
    await expectInactive("glr_" + issued.accessToken.slice(4));
    await expectActive(issued.accessToken, issued.sequence);
  });

  it("an expired token (ttl 1 s), and every token of an expired grant", async () => {
    const f = await clientAndGrant(e2e.api);
    const issued = await issue(e2e.api, f.grantId, { ttl: 1, refresh: true });
    expect(issued.expiresIn).toBe(1);
    const answer = await introspect(e2e.api, issued.accessToken, issued.sequence);
    expect(answer.active).toBe(true);
    expect(answer.exp - answer.iat).toBe(1);
    // A grant that expires within the same wait: its long-lived tokens end with it.
    const shortGrant = await e2e.api.grants.createGrant(
      { requestId: rid(), subject: f.subject, clientId: f.clientId, scopes: ["zone:read"], resources: [], expiresAt: new Date(Date.now() + 1_500) },
      actor("e2e"),
    );
    const underShort = await issue(e2e.api, shortGrant.grantId, { refresh: true });
    expect(underShort.expiresIn).toBeLessThanOrEqual(2);
    await expectActive(underShort.refreshToken, underShort.sequence);
    await sleep(1_600);
    await expectInactive(issued.accessToken, issued.sequence);
    // Only the access token had the short TTL.
    await expectActive(issued.refreshToken, issued.sequence);
    await expectInactive(underShort.accessToken, underShort.sequence);
    await expectInactive(underShort.refreshToken, underShort.sequence);
    const listed = await e2e.api.grants.listGrants({ subject: f.subject, clientId: "", minSequence: underShort.sequence, includeInactive: true });
    expect(listed.grants.find((g) => g.grantId === shortGrant.grantId)?.status).toBe(GrantStatus.GRANT_STATUS_EXPIRED);
    const activeOnly = await e2e.api.grants.listGrants({ subject: f.subject, clientId: "", minSequence: underShort.sequence, includeInactive: false });
    expect(activeOnly.grants.map((g) => g.grantId)).toEqual([f.grantId]);
    await expectRejectedWithoutAppend(e2e, () => issue(e2e.api, shortGrant.grantId), { code: status.FAILED_PRECONDITION, oauth: "invalid_grant" });
  });

  it("a revoked access token (RevokeToken)", async () => {
    const f = await clientAndGrant(e2e.api);
    const issued = await issue(e2e.api, f.grantId);
    const other = await issue(e2e.api, f.grantId);
    const revoked = await e2e.api.revocation.revokeToken(
      { requestId: rid(), token: issued.accessToken, tokenTypeHint: "access_token", clientId: f.clientId },
      actor("e2e"),
    );
    expect(revoked.sequence).toBeGreaterThan(other.sequence);
    await expectInactive(issued.accessToken, revoked.sequence);
    // Nothing else under the grant is touched.
    await expectActive(other.accessToken, revoked.sequence);
    await expectActive(other.refreshToken, revoked.sequence);
  });

  it("revoking a refresh token deactivates the access token issued with it", async () => {
    const f = await clientAndGrant(e2e.api);
    const pair = await issue(e2e.api, f.grantId, { refresh: true });
    const other = await issue(e2e.api, f.grantId, { refresh: true });
    await expectActive(pair.accessToken, pair.sequence);
    const revoked = await e2e.api.revocation.revokeToken(
      { requestId: rid(), token: pair.refreshToken, tokenTypeHint: undefined, clientId: undefined },
      actor("e2e"),
    );
    expect(revoked.sequence).toBeGreaterThan(0);
    await expectInactive(pair.refreshToken, revoked.sequence);
    await expectInactive(pair.accessToken, revoked.sequence);
    await expectActive(other.accessToken, revoked.sequence);
    await expectActive(other.refreshToken, revoked.sequence);
  });

  it("RevokeGrant deactivates every token under the grant, and only those", async () => {
    const f = await clientAndGrant(e2e.api);
    const sibling = await e2e.api.grants.createGrant(
      { requestId: rid(), subject: f.subject, clientId: f.clientId, scopes: ["zone:read"], resources: [], expiresAt: undefined },
      actor("e2e"),
    );
    const tokens = await Promise.all([issue(e2e.api, f.grantId), issue(e2e.api, f.grantId, { refresh: false })]);
    const kept = await issue(e2e.api, sibling.grantId);
    const revoked = await e2e.api.revocation.revokeGrant({ requestId: rid(), grantId: f.grantId, reason: "user revoked consent" }, actor("e2e"));
    for (const t of tokens) {
      await expectInactive(t.accessToken, revoked.sequence);
      if (t.refreshToken !== "") await expectInactive(t.refreshToken, revoked.sequence);
    }
    await expectActive(kept.accessToken, revoked.sequence);
  });

  it("RevokeSubject deactivates every grant of the user; a NEW grant for that user then works", async () => {
    const f = await clientAndGrant(e2e.api);
    const second = await clientAndGrant(e2e.api, { subject: f.subject });
    const bystander = await clientAndGrant(e2e.api);
    const before = await Promise.all([issue(e2e.api, f.grantId), issue(e2e.api, second.grantId)]);
    const kept = await issue(e2e.api, bystander.grantId);
    const revoked = await e2e.api.revocation.revokeSubject({ requestId: rid(), subject: f.subject, reason: "sign out everywhere" }, actor("e2e"));
    for (const t of before) {
      await expectInactive(t.accessToken, revoked.sequence);
      await expectInactive(t.refreshToken, revoked.sequence);
    }
    await expectActive(kept.accessToken, revoked.sequence);

    const again = await e2e.api.grants.createGrant(
      { requestId: rid(), subject: f.subject, clientId: f.clientId, scopes: ["zone:read"], resources: ["acct-9"], expiresAt: undefined },
      actor("e2e"),
    );
    const fresh = await issue(e2e.api, again.grantId);
    const answer = await introspect(e2e.api, fresh.accessToken, fresh.sequence);
    expect(answer).toMatchObject({ active: true, sub: f.subject, grantId: again.grantId, scope: "zone:read", resources: ["acct-9"] });
    await expectActive(fresh.refreshToken, fresh.sequence);
    // The old ones stay dead.
    for (const t of before) await expectInactive(t.accessToken, fresh.sequence);
  });

  it("a grant created in the same millisecond as the user's RevokeSubject (after it in the log) can issue tokens", async () => {
    // Two commands within one millisecond, or on two command services whose clocks differ by a few
    // ms, happen in production; the log order, not the wall clock, says which came first.
    const f = await clientAndGrant(e2e.api);
    const frozen = Date.now();
    vi.spyOn(Date, "now").mockReturnValue(frozen);
    const revoked = await e2e.api.revocation.revokeSubject({ requestId: rid(), subject: f.subject, reason: "sign out" }, actor("e2e"));
    const again = await e2e.api.grants.createGrant(
      { requestId: rid(), subject: f.subject, clientId: f.clientId, scopes: ["zone:read"], resources: [], expiresAt: undefined },
      actor("e2e"),
    );
    expect(again.sequence).toBeGreaterThan(revoked.sequence);
    // The read model says the new grant is active...
    const { grant } = await e2e.api.grants.getGrant({ grantId: again.grantId, minSequence: again.sequence });
    expect(grant?.statusReason).toBe("");
    // ...so the write side must agree and issue tokens under it.
    const fresh = await issue(e2e.api, again.grantId);
    vi.restoreAllMocks();
    await expectActive(fresh.accessToken, fresh.sequence);
  });

  it("SuspendClient deactivates its tokens; ReinstateClient makes them active again", async () => {
    const f = await clientAndGrant(e2e.api);
    const other = await clientAndGrant(e2e.api);
    const t = await issue(e2e.api, f.grantId);
    const kept = await issue(e2e.api, other.grantId);
    const suspended = await e2e.api.clients.suspendClient({ requestId: rid(), clientId: f.clientId, reason: "abuse report" }, actor("trust-and-safety"));
    await expectInactive(t.accessToken, suspended.sequence);
    await expectInactive(t.refreshToken, suspended.sequence);
    await expectActive(kept.accessToken, suspended.sequence);
    const reinstated = await e2e.api.clients.reinstateClient({ requestId: rid(), clientId: f.clientId, reason: "resolved" }, actor("trust-and-safety"));
    expect(reinstated.sequence).toBeGreaterThan(suspended.sequence);
    await expectActive(t.accessToken, reinstated.sequence);
    await expectActive(t.refreshToken, reinstated.sequence);
  });

  it("DeleteClient deactivates its tokens for good", async () => {
    const f = await clientAndGrant(e2e.api);
    const t = await issue(e2e.api, f.grantId);
    const deleted = await e2e.api.clients.deleteClient({ requestId: rid(), clientId: f.clientId, reason: "app retired" }, actor("dev"));
    await expectInactive(t.accessToken, deleted.sequence);
    await expectInactive(t.refreshToken, deleted.sequence);
  });
});

/** RFC 7009: revocation answers OK whenever it can, and never touches another client's token. */
describe("e2e: RevokeToken edges (RFC 7009)", () => {
  let e2e: E2E;
  beforeAll(async () => {
    e2e = await startE2E();
  });
  afterAll(async () => {
    await e2e?.stop();
  });

  const revoke = (token: string, clientId?: string, requestId = rid()) =>
    e2e.api.revocation.revokeToken({ requestId, token, tokenTypeHint: undefined, clientId }, actor("resource-server"));

  it("an unknown well-formed token → OK, sequence 0, nothing appended", async () => {
    const head = await e2e.head();
    expect(await revoke(formatToken("access_token", new Uint8Array(32).fill(1)))).toEqual({ sequence: 0 });
    expect(await revoke(formatToken("refresh_token", new Uint8Array(32).fill(2)))).toEqual({ sequence: 0 });
    expect(await e2e.head()).toBe(head);
  });

  it("garbage → OK, sequence 0, nothing appended", async () => {
    const head = await e2e.head();
    for (const garbage of ["garbage", "gla_123", `gls_${randomUUID()}`, "glr_" + "z".repeat(49)]) {
      expect(await revoke(garbage)).toEqual({ sequence: 0 });
    }
    expect(await e2e.head()).toBe(head);
  });

  it("a client_id that is not the token's client → OK, sequence 0, the token stays active", async () => {
    const mine = await clientAndGrant(e2e.api);
    const theirs = await clientAndGrant(e2e.api);
    const t = await issue(e2e.api, mine.grantId);
    const head = await e2e.head();
    expect(await revoke(t.accessToken, theirs.clientId)).toEqual({ sequence: 0 });
    expect(await revoke(t.refreshToken, theirs.clientId)).toEqual({ sequence: 0 });
    expect(await e2e.head()).toBe(head);
    expect((await introspect(e2e.api, t.accessToken, head)).active).toBe(true);
    expect((await introspect(e2e.api, t.refreshToken, head)).active).toBe(true);
    // The owning client can revoke it.
    const done = await revoke(t.accessToken, mine.clientId);
    expect(done.sequence).toBe(head + 1);
    expect(await introspect(e2e.api, t.accessToken, done.sequence)).toEqual(INACTIVE);
  });

  it("an already revoked token → OK and nothing new appended", async () => {
    const f = await clientAndGrant(e2e.api);
    const t = await issue(e2e.api, f.grantId);
    const first = await revoke(t.accessToken);
    expect(first.sequence).toBeGreaterThan(0);
    const head = await e2e.head();
    // A new request (new request_id) for the same token.
    const second = await revoke(t.accessToken);
    expect(second.sequence).toBe(0);
    // The refresh token of the family, after revoking it once.
    const viaRefresh = await revoke(t.refreshToken);
    expect(viaRefresh.sequence).toBeGreaterThan(head);
    const head2 = await e2e.head();
    expect(await revoke(t.refreshToken)).toEqual({ sequence: 0 });
    expect(await e2e.head()).toBe(head2);
    expect(await introspect(e2e.api, t.refreshToken, head2)).toEqual(INACTIVE);
  });

  it("a token whose grant was revoked → OK", async () => {
    const f = await clientAndGrant(e2e.api);
    const t = await issue(e2e.api, f.grantId);
    await e2e.api.revocation.revokeGrant({ requestId: rid(), grantId: f.grantId, reason: "" }, actor("e2e"));
    const answer = await revoke(t.accessToken);
    expect(answer.sequence).toBeGreaterThanOrEqual(0);
    expect(await introspect(e2e.api, t.accessToken, await e2e.head())).toEqual(INACTIVE);
  });
});
