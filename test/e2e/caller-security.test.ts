import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../services/config/config.js";
import { assertServingMode } from "../../services/app/security.js";
import { formatToken } from "../../services/domain/shared/token-format.js";
import { AggregateKind } from "../../services/gen/grantledger/v1/audit_service.js";
import { ClientType } from "../../services/gen/grantledger/v1/client_service.js";
import { createDevCertificates } from "../../services/security/certs.js";
import { connectClients, type LedgerClients } from "../support/grpc-clients.js";
import { INACTIVE, rid } from "../support/e2e-harness.js";
import { startTestLedger, type TestLedger } from "../support/ledger.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { failure, runCli, tlsClient, writePolicy } from "../support/security.js";

const CLIENTS = ["front-door", "resource-server", "restricted-rs", "auditor", "stranger", "limited"];

/**
 * Caller security end to end over real TLS: certificates from `grant-ledger certs dev`, a policy
 * file, API keys from `grant-ledger keys create-api-key`.
 */
describe("e2e: caller authentication, authorization policy, introspection privacy, rate limits", () => {
  let nats: NatsServer;
  let dir: string;
  let certs: string;
  let rogue: string;
  let mtls: TestLedger;
  let keyed: TestLedger;
  const connections: LedgerClients[] = [];
  const as = (client: string | undefined, options: { caDir?: string; clientDir?: string } = {}): LedgerClients => {
    const api = connectClients(mtls.address.replace("127.0.0.1", "localhost"), 5000, { tls: tlsClient(options.caDir ?? certs, client, options.clientDir ?? certs) });
    connections.push(api);
    return api;
  };
  const withKey = (apiKey?: string): LedgerClients => {
    const api = connectClients(keyed.address.replace("127.0.0.1", "localhost"), 5000, { tls: tlsClient(certs), ...(apiKey === undefined ? {} : { apiKey }) });
    connections.push(api);
    return api;
  };

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), "gl-sec-"));
    certs = join(dir, "certs");
    const made = await runCli(["certs", "dev", "--out", certs, ...CLIENTS.flatMap((c) => ["--client", c])]);
    expect(made.code, made.stderr).toBe(0);
    // Same names, another CA: the server must not trust it.
    rogue = join(dir, "rogue");
    createDevCertificates({ dir: rogue, clients: ["front-door"] });
    const policyFile = writePolicy(dir, {
      roles: {
        "resource-server": ["IntrospectionService/Introspect"],
        "front-door": ["ClientService/*", "GrantService/*", "TokenService/*"],
        security: ["RevocationService/*"],
        auditor: ["grantledger.v1.AuditService/*"],
        operator: ["*"],
      },
      callers: {
        "front-door": { roles: ["front-door"], rateLimits: { secretChecks: { perSecond: 0.001, burst: 3 } } },
        "resource-server": { roles: ["resource-server"] },
        "restricted-rs": { roles: ["resource-server"], resources: ["acct-7", "zone-*"] },
        auditor: { roles: ["auditor"] },
        limited: { roles: ["resource-server"], rateLimits: { introspect: { perSecond: 0.001, burst: 5 } } },
        "svc-by-key": { roles: ["resource-server", "security"] },
      },
    });
    const tls = { tlsCertFile: join(certs, "server.crt"), tlsKeyFile: join(certs, "server.key") };
    mtls = await startTestLedger(nats.url, { ...tls, tlsClientCaFile: join(certs, "ca.crt"), policyFile });
    // TLS without client certificates: API keys only.
    keyed = await startTestLedger(nats.url, { ...tls, policyFile, stream: "KEYED", subjectRoot: "keyed" });
  });
  afterAll(async () => {
    for (const api of connections) api.close();
    await mtls?.stop();
    await keyed?.stop();
    await nats?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const head = (ledger: TestLedger = mtls) => ledger.ledger.log.headSequence();
  const register = (api: LedgerClients, metadata = new Metadata()) =>
    api.clients.registerClient(
      {
        requestId: rid(),
        ownerAccount: "acme",
        name: "App",
        redirectUris: ["https://app.example.com/cb"],
        allowedScopes: ["zone:read"],
        clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL,
      },
      metadata,
    );

  it("refuses a caller without a certificate, or with one from an untrusted CA, at the handshake", async () => {
    const before = await head();
    for (const api of [as(undefined), as("front-door", { clientDir: rogue })]) {
      const error = await failure(register(api));
      expect(status[error.code]).toBe("UNAVAILABLE");
    }
    expect(await head()).toBe(before);
  });

  it("denies by default: a role without the method, or a caller the policy does not name, gets PERMISSION_DENIED, logged and not appended", async () => {
    const before = await head();
    const denied = [
      await failure(register(as("auditor"))),
      await failure(as("resource-server").revocation.revokeSubject({ requestId: rid(), subject: "u1", reason: "x" })),
      await failure(as("stranger").introspection.introspect({ token: "gla_x" })),
      await failure(as("front-door").audit.getHistory({ aggregate: { kind: AggregateKind.AGGREGATE_KIND_CLIENT, id: "cli_x" }, pageSize: 0, pageToken: "" })),
    ];
    for (const error of denied) {
      expect(status[error.code]).toBe("PERMISSION_DENIED");
      expect(error.details).toMatch(/may not call/);
    }
    await expect(as("front-door").replay({ filter: undefined, follow: false, batchSize: 0 })).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
    expect(await head()).toBe(before);
    const denials = mtls.logs.lines.filter((line) => line.includes("rpc denied by the authorization policy"));
    expect(denials.some((line) => line.includes('"caller":"auditor"') && line.includes("ClientService/RegisterClient"))).toBe(true);
    expect(denials.some((line) => line.includes('"caller":"stranger"'))).toBe(true);
  });

  it("records the certificate's identity as the actor, whatever x-actor claims", async () => {
    const frontDoor = as("front-door");
    const lying = new Metadata();
    lying.set("x-actor", "mallory");
    const client = await register(frontDoor, lying);
    const history = await as("auditor").audit.getHistory(
      { aggregate: { kind: AggregateKind.AGGREGATE_KIND_CLIENT, id: client.clientId }, pageSize: 0, pageToken: "" },
      lying,
    );
    const actors = history.entries.map((entry) => entry.event?.actor);
    expect(actors.length).toBeGreaterThan(0);
    expect(actors).toEqual(actors.map(() => "front-door"));
  });

  it("restricts a caller to tokens of its resources: any other token answers exactly like an unknown one", async () => {
    const frontDoor = as("front-door");
    const client = await frontDoor.clients.registerClient({
      requestId: rid(),
      ownerAccount: "acme",
      name: "App",
      redirectUris: ["https://app.example.com/cb"],
      allowedScopes: ["zone:read"],
      clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL,
    });
    const tokenFor = async (resources: string[]) => {
      const grant = await frontDoor.grants.createGrant({ requestId: rid(), subject: `u-${rid()}`, clientId: client.clientId, scopes: ["zone:read"], resources, expiresAt: undefined });
      return frontDoor.tokens.issueTokens({ requestId: rid(), grantId: grant.grantId, scopes: [], includeRefreshToken: false, accessTokenTtlSeconds: undefined });
    };
    const mine = await tokenFor(["acct-7"]);
    const zone = await tokenFor(["zone-42", "acct-1"]);
    const other = await tokenFor(["acct-1"]);
    const seq = other.sequence;
    const restricted = as("restricted-rs");
    const open = as("resource-server");
    expect((await restricted.introspection.introspect({ token: mine.accessToken, minSequence: seq })).active).toBe(true);
    expect((await restricted.introspection.introspect({ token: zone.accessToken, minSequence: seq })).active).toBe(true);
    const hidden = await restricted.introspection.introspect({ token: other.accessToken, minSequence: seq });
    const unknown = await restricted.introspection.introspect({ token: formatToken("access_token", randomBytes(32)) });
    expect(hidden).toEqual(INACTIVE);
    expect(hidden).toEqual(unknown);
    expect((await open.introspection.introspect({ token: other.accessToken, minSequence: seq })).active).toBe(true);
  });

  it("rate limits Introspect and secret-checking RPCs per caller with RESOURCE_EXHAUSTED", async () => {
    const limited = as("limited");
    const codes: string[] = [];
    for (let i = 0; i < 8; i++) {
      codes.push(await limited.introspection.introspect({ token: "gla_nope" }).then(() => "OK", (e: { code: number }) => status[e.code] ?? "?"));
    }
    expect(codes).toEqual(["OK", "OK", "OK", "OK", "OK", "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED"]);
    // Another caller is not slowed by it.
    expect((await as("resource-server").introspection.introspect({ token: "gla_nope" })).active).toBe(false);

    const frontDoor = as("front-door");
    const client = await register(frontDoor);
    const attempt = () =>
      frontDoor.tokens.clientCredentials({ requestId: rid(), clientId: client.clientId, clientSecret: "wrong", scopes: ["zone:read"] });
    const secretCodes: string[] = [];
    for (let i = 0; i < 4; i++) secretCodes.push(status[(await failure(attempt())).code] ?? "?");
    expect(secretCodes.slice(3)).toEqual(["RESOURCE_EXHAUSTED"]);
    expect(secretCodes.slice(0, 3)).not.toContain("RESOURCE_EXHAUSTED");
  });

  it("authenticates API keys: missing, garbage, unknown or revoked keys get UNAUTHENTICATED; a valid one is the actor", async () => {
    const env = { GL_DATA_DIR: keyed.dataDir, GL_TOKEN_HASH_KEY: "" };
    const created = await runCli(["keys", "create-api-key", "svc-by-key"], env);
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^glk_[0-9A-Za-z]{49}$/);
    const stored = await readFile(join(keyed.dataDir, "callers.json"), "utf8");
    expect(stored).not.toContain(key.slice(4));
    expect(stored).toContain("svc-by-key");

    const before = await head(keyed);
    const unauthenticated = [undefined, "nope", `${key}x`, formatToken("api_key", randomBytes(32)), formatToken("access_token", randomBytes(32))];
    for (const apiKey of unauthenticated) {
      const error = await failure(withKey(apiKey).introspection.introspect({ token: "gla_x" }));
      expect(status[error.code], String(apiKey)).toBe("UNAUTHENTICATED");
      expect(error.details).not.toBe("");
    }
    // A caller never chooses its identity: x-actor without credentials is refused too.
    const claimed = new Metadata();
    claimed.set("x-actor", "svc-by-key");
    expect(status[(await failure(withKey().introspection.introspect({ token: "gla_x" }, claimed))).code]).toBe("UNAUTHENTICATED");
    expect(await head(keyed)).toBe(before);

    const good = withKey(key);
    expect((await good.introspection.introspect({ token: "gla_x" })).active).toBe(false);
    const revoked = await good.revocation.revokeSubject({ requestId: rid(), subject: "user-key", reason: "test" });
    expect(revoked.sequence).toBeGreaterThan(before);
    const rpcLine = keyed.logs.lines.find((line) => line.includes('"method":"RevokeSubject"'));
    expect(rpcLine).toContain('"actor":"svc-by-key"');
    expect(keyed.logs.lines.join("\n")).not.toContain(key.slice(4));

    const revokedKey = await runCli(["keys", "revoke-api-key", "svc-by-key"], env);
    expect(revokedKey.code, revokedKey.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 1200));
    expect(status[(await failure(good.introspection.introspect({ token: "gla_x" }))).code]).toBe("UNAUTHENTICATED");
  });

  it("serves plaintext only with --insecure-dev, and then only on loopback", async () => {
    expect(() => loadConfig({ GL_INSECURE_DEV: "1", GL_GRPC_HOST: "0.0.0.0" })).toThrow(/loopback/);
    expect(() => loadConfig({ GL_INSECURE_DEV: "1", GL_GRPC_HOST: "::1" })).not.toThrow();
    expect(() => assertServingMode(loadConfig({}))).toThrow(/--insecure-dev/);
    const [wide, plain] = await Promise.all([
      runCli(["serve", "--insecure-dev", "--grpc-host", "0.0.0.0"], { NATS_URL: nats.url, GL_DATA_DIR: join(dir, "wide") }),
      runCli(["serve"], { NATS_URL: nats.url, GL_DATA_DIR: join(dir, "plain"), GL_INSECURE_DEV: "" }),
    ]);
    expect(wide.code).toBe(2);
    expect(wide.stderr).toMatch(/loopback/);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/refusing to serve gRPC without caller authentication/);
  });
});
