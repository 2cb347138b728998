import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devKeyFiles, loadKeyring, rotateDevTokenHashKey } from "../../services/config/keys.js";
import { ClientType } from "../../services/gen/grantledger/v1/client_service.js";
import { actor, connectClients } from "../support/grpc-clients.js";
import { auditLog, readWholeLog } from "../support/fault-kit.js";
import { startTestLedger } from "../support/ledger.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

const md = actor("rotation-test");

/** Every token hash the log holds, by token id. */
async function hashesInLog(natsUrl: string): Promise<Map<string, string>> {
  const log = await auditLog(natsUrl);
  try {
    const out = new Map<string, string>();
    for (const envelope of await readWholeLog(log)) {
      for (const event of envelope.events) {
        if (event.type === "token.issued") for (const token of event.data.tokens) out.set(token.tokenId, token.hash);
      }
    }
    return out;
  } finally {
    await log.close();
  }
}

describe("token-hash key rotation (grant-ledger keys rotate)", () => {
  let nats: NatsServer;
  let dataDir: string;

  beforeAll(async () => {
    nats = await startNatsServer();
    dataDir = await mkdtemp(join(tmpdir(), "gl-rotation-"));
  });
  afterAll(async () => {
    await nats?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("old tokens keep verifying and revoking, new ones use the new key id, retries spanning the rotation get the same answers", { timeout: 60_000 }, async () => {
    // Before: a fresh data dir gets key k1 in the new layout, and the request key seeded from it.
    const first = await startTestLedger(nats.url, { dataDir });
    const files = devKeyFiles(first.config);
    expect(readFileSync(files.current, "utf8").trim()).toBe("k1");
    expect(existsSync(join(files.dir, "k1.key"))).toBe(true);
    const requestKeyBefore = loadKeyring(first.config).requestKey;

    const api = connectClients(first.address);
    const ids = { client: randomUUID(), grant: randomUUID(), issue: randomUUID(), revoke: randomUUID() };
    const client = await api.clients.registerClient(
      { requestId: ids.client, ownerAccount: "acct-r", name: "Rotation app", redirectUris: ["https://r.example/cb"], allowedScopes: ["zone:read"], clientType: ClientType.CLIENT_TYPE_PUBLIC },
      md,
    );
    const grantRequest = { requestId: ids.grant, subject: "u-rot", clientId: client.clientId, scopes: ["zone:read"], resources: [] };
    const grant = await api.grants.createGrant(grantRequest, md);
    const issueRequest = { requestId: ids.issue, grantId: grant.grantId, scopes: [], includeRefreshToken: true };
    const kept = await api.tokens.issueTokens(issueRequest, md);
    const toRevokeLater = await api.tokens.issueTokens({ requestId: randomUUID(), grantId: grant.grantId, scopes: [], includeRefreshToken: false }, md);
    const revokedBefore = await api.tokens.issueTokens({ requestId: randomUUID(), grantId: grant.grantId, scopes: [], includeRefreshToken: false }, md);
    const revokeRequest = { requestId: ids.revoke, token: revokedBefore.accessToken };
    const revokeAnswer = await api.revocation.revokeToken(revokeRequest, md);
    expect(revokeAnswer.sequence).toBeGreaterThan(0);
    api.close();
    await first.stop();

    // Rotate (what `grant-ledger keys rotate` does), then restart the ledger with the new keyring.
    const rotated = rotateDevTokenHashKey(first.config);
    expect(rotated).toEqual({ current: "k2", verifying: ["k2", "k1"] });
    const keyring = loadKeyring(first.config);
    expect(keyring.current.id).toBe("k2");
    expect(keyring.verifying.map((k) => k.id)).toEqual(["k2", "k1"]);
    // The request-side keys did not rotate.
    expect(keyring.requestKey.equals(requestKeyBefore)).toBe(true);

    const second = await startTestLedger(nats.url, { dataDir });
    const api2 = connectClients(second.address);
    try {
      // Old tokens still introspect active.
      for (const token of [kept.accessToken, kept.refreshToken, toRevokeLater.accessToken]) {
        expect((await api2.introspection.introspect({ token })).active).toBe(true);
      }
      expect((await api2.introspection.introspect({ token: revokedBefore.accessToken })).active).toBe(false);

      // Retries of pre-rotation request ids get the same answers (same derived ids, same sealed tokens, same sequence).
      expect((await api2.grants.createGrant(grantRequest, md)).grantId).toBe(grant.grantId);
      const again = await api2.tokens.issueTokens(issueRequest, md);
      expect([again.accessToken, again.refreshToken, again.sequence]).toEqual([kept.accessToken, kept.refreshToken, kept.sequence]);
      expect((await api2.revocation.revokeToken(revokeRequest, md)).sequence).toBe(revokeAnswer.sequence);

      // An old token can be revoked after the rotation.
      const revoked = await api2.revocation.revokeToken({ requestId: randomUUID(), token: toRevokeLater.accessToken }, md);
      expect(revoked.sequence).toBeGreaterThan(0);
      expect((await api2.introspection.introspect({ token: toRevokeLater.accessToken, minSequence: revoked.sequence })).active).toBe(false);

      // New tokens are hashed with the new key id; old ones kept theirs.
      const fresh = await api2.tokens.issueTokens({ requestId: randomUUID(), grantId: grant.grantId, scopes: [], includeRefreshToken: true }, md);
      expect((await api2.introspection.introspect({ token: fresh.accessToken, minSequence: fresh.sequence })).active).toBe(true);
      const hashes = await hashesInLog(nats.url);
      for (const id of [kept.accessTokenId, kept.refreshTokenId, toRevokeLater.accessTokenId]) expect(hashes.get(id)).toMatch(/^k1:/);
      for (const id of [fresh.accessTokenId, fresh.refreshTokenId]) expect(hashes.get(id)).toMatch(/^k2:/);

      // The old refresh token still refreshes (OAuth commands try every verifying key).
      const refreshed = await api2.tokens.refreshTokens({ requestId: randomUUID(), clientId: client.clientId, refreshToken: kept.refreshToken, clientSecret: "", scopes: [] }, md);
      expect(refreshed.accessToken).not.toBe("");
    } finally {
      api2.close();
      await second.stop();
    }
  });
});
