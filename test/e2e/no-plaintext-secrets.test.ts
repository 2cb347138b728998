import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientType } from "../../services/gen/grantledger/v1/client_service.js";
import { DEFAULT_OUTCOME_BUCKET } from "../../services/eventlog/outcomes.js";
import { loadKeyring } from "../../services/config/keys.js";
import { createApiKey } from "../../services/security/api-keys.js";
import { Metadata } from "@grpc/grpc-js";
import { actor } from "../support/grpc-clients.js";
import { introspect, rid, startE2E, tampered, type E2E } from "../support/e2e-harness.js";

/** Every file under `dir`, recursively, as raw bytes. */
async function readTree(dir: string): Promise<{ path: string; bytes: Buffer }[]> {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await readTree(path)));
    else if (entry.isFile()) out.push({ path, bytes: await readFile(path) });
  }
  return out;
}

/**
 * The forms a secret could take in raw bytes: itself, its body without the prefix, hex, and base64
 * at each of the three alignments it could have inside a longer base64-encoded text.
 */
function forms(secret: string): string[] {
  const body = secret.slice(secret.indexOf("_") + 1);
  const out = [secret, body, Buffer.from(secret).toString("hex")];
  for (let k = 0; k < 3; k++) {
    const part = secret.slice(k);
    out.push(Buffer.from(part.slice(0, part.length - (part.length % 3))).toString("base64"));
  }
  return out;
}

interface Haystack {
  readonly name: string;
  readonly bytes: Buffer;
}

/**
 * Runs a busy session (many clients, secrets, tokens, retries, revocations, introspections and
 * failed calls that carry tokens), then greps everything the ledger wrote for every plaintext
 * token and client secret it handed out: captured log lines, every LEDGER message body and header,
 * the raw outcome KV stream, the SQLite files, and nats-server's raw store directory.
 */
describe("e2e: no plaintext token or secret is ever written anywhere", () => {
  let e2e: E2E;
  const secrets: string[] = [];
  /** Values that must be visible in each haystack, to prove the scan sees real data. */
  const canaries: string[] = [];
  beforeAll(async () => {
    e2e = await startE2E();
  });
  afterAll(async () => {
    await e2e?.stop();
  });

  it("issues many tokens and secrets through every path", async () => {
    const { api } = e2e;
    const md = actor("secret-test");
    const grants: { grantId: string; clientId: string }[] = [];
    const clientSecrets = new Map<string, string>();
    for (let i = 0; i < 6; i++) {
      const confidential = i % 3 !== 2;
      const requestId = rid();
      const request = {
        requestId,
        ownerAccount: "secret-owner",
        name: `App ${i}`,
        redirectUris: ["https://secret.example.com/cb"],
        allowedScopes: ["zone:read", "zone:edit", "offline_access"],
        clientType: confidential ? ClientType.CLIENT_TYPE_CONFIDENTIAL : ClientType.CLIENT_TYPE_PUBLIC,
      };
      const c = await api.clients.registerClient(request, md);
      // A retry goes through the sealed outcome store.
      expect(await api.clients.registerClient(request, md)).toEqual(c);
      if (confidential) secrets.push(c.clientSecret);
      clientSecrets.set(c.clientId, c.clientSecret);
      canaries.push(c.clientId);
      const g = await api.grants.createGrant(
        { requestId: rid(), subject: `secret-user-${i}`, clientId: c.clientId, scopes: ["zone:read", "offline_access"], resources: [`acct-${i}`], expiresAt: undefined },
        md,
      );
      grants.push({ grantId: g.grantId, clientId: c.clientId });
    }

    const issued: { access: string; refresh: string; grantId: string; clientId: string }[] = [];
    for (let i = 0; i < 36; i++) {
      const grant = grants[i % grants.length];
      if (grant === undefined) throw new Error("no grant");
      const request = { requestId: rid(), grantId: grant.grantId, scopes: [], includeRefreshToken: i % 4 !== 3, accessTokenTtlSeconds: i % 5 === 0 ? 60 : undefined };
      const t = await api.tokens.issueTokens(request, md);
      if (i % 3 === 0) expect(await api.tokens.issueTokens(request, md)).toEqual(t);
      issued.push({ access: t.accessToken, refresh: t.refreshToken, grantId: grant.grantId, clientId: grant.clientId });
      secrets.push(t.accessToken);
      if (t.refreshToken !== "") secrets.push(t.refreshToken);
    }
    // Concurrent duplicates: the pending (minted, sealed) tokens race through the outcome store.
    const grant0 = grants[0];
    if (grant0 === undefined) throw new Error("no grant");
    const dup = { requestId: rid(), grantId: grant0.grantId, scopes: [], includeRefreshToken: true, accessTokenTtlSeconds: undefined };
    const dups = await Promise.all(Array.from({ length: 6 }, () => api.tokens.issueTokens(dup, md)));
    secrets.push(dups[0]?.accessToken ?? "", dups[0]?.refreshToken ?? "");

    // Tokens travel in requests: introspection, revocation (own client, foreign client, by refresh).
    for (const t of issued) expect((await introspect(api, t.access)).active).toBe(true);
    for (const [i, t] of issued.entries()) {
      if (i % 4 === 0) await api.revocation.revokeToken({ requestId: rid(), token: t.access, tokenTypeHint: "access_token", clientId: t.clientId }, md);
      if (i % 4 === 1 && t.refresh !== "") await api.revocation.revokeToken({ requestId: rid(), token: t.refresh, tokenTypeHint: undefined, clientId: undefined }, md);
      if (i % 4 === 2) await api.revocation.revokeToken({ requestId: rid(), token: t.access, tokenTypeHint: undefined, clientId: "cl_someoneelse" }, md);
    }
    // Tokens and secrets where they do not belong: the calls fail, and their values must not be logged.
    const first = issued[0];
    if (first === undefined) throw new Error("no token");
    await expect(api.tokens.issueTokens({ requestId: rid(), grantId: first.access, scopes: [], includeRefreshToken: false, accessTokenTtlSeconds: undefined }, md)).rejects.toThrow();
    await expect(api.grants.getGrant({ grantId: first.refresh, minSequence: undefined })).rejects.toThrow();
    await expect(api.clients.getClient({ clientId: secrets[0] ?? "", minSequence: undefined })).rejects.toThrow();
    await expect(api.grants.listGrants({ subject: first.access, clientId: first.access, minSequence: undefined, includeInactive: true })).rejects.toThrow();
    await expect(api.introspection.introspect({ token: first.access, tokenTypeHint: "x".repeat(100), minSequence: undefined })).rejects.toThrow();
    await api.revocation.revokeGrant({ requestId: rid(), grantId: grants[1]?.grantId ?? "", reason: "done" }, md);
    await api.revocation.revokeSubject({ requestId: rid(), subject: "secret-user-2", reason: "sign out" }, md);

    // API keys travel in metadata: valid ones, and one sent where it fails (the key file holds hashes only).
    const apiKey = createApiKey(join(e2e.ledger.dataDir, "callers.json"), loadKeyring(e2e.ledger.config), "secret-api").key;
    secrets.push(apiKey);
    const keyed = new Metadata();
    keyed.set("authorization", `Bearer ${apiKey}`);
    await sleep(1100); // the server re-reads the callers file at most once a second
    // Accepted (first.access was revoked above, so it answers inactive).
    expect((await api.introspection.introspect({ token: first.access, tokenTypeHint: undefined, minSequence: undefined }, keyed)).active).toBe(false);
    await api.revocation.revokeSubject({ requestId: rid(), subject: "secret-user-5", reason: "by api key" }, keyed);
    const wrong = new Metadata();
    wrong.set("authorization", `Bearer ${tampered(apiKey)}`);
    await expect(api.introspection.introspect({ token: first.access, tokenTypeHint: undefined, minSequence: undefined }, wrong)).rejects.toThrow();

    // The OAuth flows: an authorization code (PKCE), its redemption and a replay of it, a refresh
    // rotation and a reuse of the consumed token, client credentials, a rotated client secret.
    const oauthGrant = grants[3];
    const oauthSecret = oauthGrant === undefined ? undefined : clientSecrets.get(oauthGrant.clientId);
    if (oauthGrant === undefined || oauthSecret === undefined || oauthSecret === "") throw new Error("no confidential grant");
    const client = { clientId: oauthGrant.clientId, clientSecret: oauthSecret };
    const verifier = randomBytes(32).toString("base64url");
    const codeChallenge = createHash("sha256").update(verifier).digest("base64url");
    const redirectUri = "https://secret.example.com/cb";
    const code = await api.tokens.issueAuthorizationCode(
      { requestId: rid(), grantId: oauthGrant.grantId, redirectUri, codeChallenge, codeChallengeMethod: "S256", scopes: [] },
      md,
    );
    secrets.push(code.code);
    const redeem = { code: code.code, ...client, redirectUri, codeVerifier: verifier };
    const redeemed = await api.tokens.redeemAuthorizationCode({ requestId: rid(), ...redeem }, md);
    secrets.push(redeemed.accessToken, redeemed.refreshToken);
    const rotated = await api.tokens.refreshTokens({ requestId: rid(), refreshToken: redeemed.refreshToken, ...client, scopes: [] }, md);
    secrets.push(rotated.accessToken, rotated.refreshToken);
    await expect(api.tokens.refreshTokens({ requestId: rid(), refreshToken: redeemed.refreshToken, ...client, scopes: [] }, md)).rejects.toThrow();
    await expect(api.tokens.redeemAuthorizationCode({ requestId: rid(), ...redeem }, md)).rejects.toThrow();
    const machine = await api.tokens.clientCredentials({ requestId: rid(), ...client, scopes: [] }, md);
    secrets.push(machine.accessToken);
    const newSecret = await api.clients.rotateClientSecret({ requestId: rid(), clientId: client.clientId, overlapSeconds: 60 }, md);
    secrets.push(newSecret.clientSecret);
    const machine2 = await api.tokens.clientCredentials({ requestId: rid(), clientId: client.clientId, clientSecret: newSecret.clientSecret, scopes: [] }, md);
    secrets.push(machine2.accessToken);
    await expect(
      api.tokens.clientCredentials({ requestId: rid(), clientId: client.clientId, clientSecret: tampered(newSecret.clientSecret), scopes: [] }, md),
    ).rejects.toThrow();

    // Let the read model apply everything and the fire-and-forget outcome records land.
    const head = await e2e.head();
    await introspect(api, first.access, head);
    await sleep(300);
    expect(secrets.length).toBeGreaterThan(60);
    expect(new Set(secrets).size).toBe(secrets.length);
    for (const s of secrets) expect(s).toMatch(/^gl[acrsk]_[0-9A-Za-z]{49}$/);
  });

  it("the scan itself finds a secret hidden in plain text, hex or base64", () => {
    const secret = "gla_" + "Ab1".repeat(16) + "x";
    const hits = (text: string): boolean => forms(secret).some((f) => Buffer.from(text).includes(f));
    expect(hits(`{"t":"${secret}"}`)).toBe(true);
    expect(hits(Buffer.from(`{"t":"${secret}"}`).toString("hex"))).toBe(true);
    for (const pad of ["", "a", "ab"]) expect(hits(Buffer.from(`${pad}{"t":"${secret}"}`).toString("base64"))).toBe(true);
    expect(hits("gla_" + "Ab1".repeat(16))).toBe(false);
  });

  const expectClean = (haystacks: readonly Haystack[], what: string, canary: string | undefined = canaries[0]): void => {
    expect(haystacks.length, `${what}: nothing to scan`).toBeGreaterThan(0);
    // The scan must see real data: a known non-secret value is found.
    if (canary !== undefined) expect(haystacks.some((h) => h.bytes.includes(canary)), `${what}: canary ${canary} not found`).toBe(true);
    const found: string[] = [];
    for (const secret of secrets) {
      for (const form of forms(secret)) {
        for (const h of haystacks) if (h.bytes.includes(form)) found.push(`${secret.slice(0, 8)}… (as ${form.slice(0, 12)}…) in ${h.name}`);
      }
    }
    expect(found, `${what} holds plaintext secrets`).toEqual([]);
  };

  it("(a) no captured log line holds one", () => {
    const lines = e2e.ledger.logs.lines;
    expect(lines.length).toBeGreaterThan(120);
    // One line per RPC, with method, gRPC code, duration and request id.
    const rpc = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l["method"] === "IssueTokens");
    expect(rpc.length).toBeGreaterThan(40);
    for (const l of rpc) expect(Object.keys(l)).toEqual(expect.arrayContaining(["method", "grpcCode", "durationMs", "requestId", "actor"]));
    expectClean(
      lines.map((line, i) => ({ name: `log line ${i}`, bytes: Buffer.from(line) })),
      "the log",
      "IssueTokens",
    );
  });

  it("(b) no LEDGER message body, header or subject holds one, nor the raw outcome KV stream", async () => {
    const log = e2e.ledger.ledger.log;
    const raw = async (stream: string): Promise<Haystack[]> => {
      const info = await log.jsm.streams.info(stream);
      const out: Haystack[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await log.jsm.streams.getMessage(stream, { seq }).catch(() => null);
        if (m === null) continue;
        const headers: string[] = [];
        for (const [key, values] of m.header ?? []) headers.push(`${key}: ${values.join(",")}`);
        out.push({ name: `${stream}#${seq} body`, bytes: Buffer.from(m.data) });
        out.push({ name: `${stream}#${seq} headers+subject`, bytes: Buffer.from(`${m.subject}\n${headers.join("\n")}`) });
      }
      return out;
    };
    const ledger = await raw(log.stream);
    expect(ledger.length / 2).toBe(await e2e.head());
    expectClean(ledger, "the LEDGER stream");
    const outcomes = await raw(`KV_${DEFAULT_OUTCOME_BUCKET}`);
    // One record per answered command (history 1 keeps the last revision of each).
    expect(outcomes.length / 2).toBeGreaterThan(50);
    expectClean(outcomes, "the outcome KV stream", "$KV.");
  });

  it("(c) no SQLite file (db, wal, shm) under the data dir holds one", async () => {
    const files = await readTree(e2e.ledger.dataDir);
    const names = files.map((f) => f.path);
    expect(names.some((n) => n.endsWith(".db"))).toBe(true);
    expect(names.some((n) => n.endsWith(".db-wal"))).toBe(true);
    expectClean(
      files.map((f) => ({ name: f.path, bytes: f.bytes })),
      "the data dir",
    );
  });

  it("(d) no raw file of nats-server's store dir holds one", async () => {
    const files = await readTree(e2e.nats.storeDir);
    expect(files.some((f) => f.path.includes("LEDGER"))).toBe(true);
    expectClean(
      files.map((f) => ({ name: f.path, bytes: f.bytes })),
      "the nats-server store",
    );
  });
});
