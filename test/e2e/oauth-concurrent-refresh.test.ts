import { randomUUID } from "node:crypto";
import { status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientType } from "../../services/gen/grantledger/v1/client_service.js";
import type { RefreshTokensResponse } from "../../services/gen/grantledger/v1/token_service.js";
import { INACTIVE, introspect, rid, startE2E, type E2E } from "../support/e2e-harness.js";

/**
 * 50 concurrent refreshes of one refresh token through real gRPC clients: the grant's subject
 * settles the race (optimistic concurrency), so exactly one rotation is appended, never two
 * independent families; the losers are reuse (family revoked) or, with a grace period, the same
 * successor; and the read model agrees with the outcome.
 */
async function race(e2e: E2E, n: number) {
  const { api } = e2e;
  const client = await api.clients.registerClient({
    requestId: rid(),
    ownerAccount: `owner-${randomUUID()}`,
    name: "Racer",
    redirectUris: ["https://app.example.com/cb"],
    allowedScopes: ["offline_access", "zone:read"],
    clientType: ClientType.CLIENT_TYPE_PUBLIC,
  });
  const grant = await api.grants.createGrant({
    requestId: rid(),
    subject: `user-${randomUUID()}`,
    clientId: client.clientId,
    scopes: ["offline_access", "zone:read"],
    resources: [],
    expiresAt: undefined,
  });
  const first = await api.tokens.issueTokens({ requestId: rid(), grantId: grant.grantId, scopes: [], includeRefreshToken: true });
  const results = await Promise.allSettled(
    Array.from({ length: n }, () => api.tokens.refreshTokens({ requestId: rid(), refreshToken: first.refreshToken, clientId: client.clientId, clientSecret: "", scopes: [] })),
  );
  const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason as ServiceError] : []));
  const envelopes = await e2e.ledger.ledger.log.readAggregate({ kind: "grant", id: grant.grantId });
  const types = envelopes.flatMap((e) => e.events.map((event) => event.type));
  return { first, ok, failed, types, head: await e2e.head() };
}

const expectInvalidGrant = (failed: readonly ServiceError[]): void => {
  for (const error of failed) {
    expect(status[error.code]).toBe("FAILED_PRECONDITION");
    expect(error.metadata.get("gl-oauth-error")).toEqual(["invalid_grant"]);
  }
};

const distinct = (ok: readonly RefreshTokensResponse[]) => new Set(ok.map((r) => r.refreshToken));

describe("e2e: 50 concurrent refreshes of one refresh token", () => {
  describe("without a grace period (the default)", () => {
    let e2e: E2E;
    beforeAll(async () => {
      e2e = await startE2E({ commandRetries: 8 });
    });
    afterAll(async () => {
      await e2e?.stop();
    });

    it("exactly one succeeds; the reuse revokes the family; the read model agrees", async () => {
      const { first, ok, failed, types, head } = await race(e2e, 50);
      expect(ok).toHaveLength(1);
      expect(failed).toHaveLength(49);
      expectInvalidGrant(failed);
      expect(types.filter((t) => t === "refresh.rotated")).toHaveLength(1);
      expect(types.filter((t) => t === "refresh.reuse_detected")).toHaveLength(1);
      const winner = ok[0] as RefreshTokensResponse;
      for (const token of [first.accessToken, first.refreshToken, winner.accessToken, winner.refreshToken]) {
        expect(await introspect(e2e.api, token, head)).toEqual(INACTIVE);
      }
    });
  });

  describe("with a grace period", () => {
    let e2e: E2E;
    beforeAll(async () => {
      e2e = await startE2E({ refreshGraceSeconds: 60, refreshGraceMaxReuses: 10 });
    });
    afterAll(async () => {
      await e2e?.stop();
    });

    it("one rotation; up to the reuse budget get the same successor; beyond it the family is revoked", async () => {
      const { ok, failed, types, head } = await race(e2e, 50);
      expect(types.filter((t) => t === "refresh.rotated")).toHaveLength(1);
      expect(distinct(ok).size).toBe(1);
      expect(ok.filter((r) => !r.grace)).toHaveLength(1);
      expect(ok.filter((r) => r.grace).length).toBeLessThanOrEqual(10);
      expectInvalidGrant(failed);
      const successor = ok[0] as RefreshTokensResponse;
      const seen = await introspect(e2e.api, successor.refreshToken, head);
      const reused = types.includes("refresh.reuse_detected");
      // The family's state in the read model is the log's: revoked exactly when a reuse was detected.
      expect(seen.active).toBe(!reused);
      expect(reused).toBe(failed.length > 0);
    });

    it("a lone retry within the grace period gets the same successor back, nothing appended", async () => {
      const { api } = e2e;
      const { ok, first } = await race(e2e, 1);
      const winner = ok[0] as RefreshTokensResponse;
      const head = await e2e.head();
      const client = (await introspect(api, first.accessToken, head)).clientId;
      const retry = await api.tokens.refreshTokens({ requestId: rid(), refreshToken: first.refreshToken, clientId: client, clientSecret: "", scopes: [] });
      expect(retry).toMatchObject({ grace: true, refreshToken: winner.refreshToken, accessToken: winner.accessToken });
      expect(await e2e.head()).toBe(head);
      expect(await introspect(api, winner.refreshToken, head)).toMatchObject({ active: true });
    });
  });
});
