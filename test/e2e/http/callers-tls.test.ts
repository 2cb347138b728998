import { mkdtemp, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callersFile } from "../../../services/app/security.js";
import { loadConfig } from "../../../services/config/config.js";
import { loadKeyring } from "../../../services/config/keys.js";
import { ClientType } from "../../../services/gen/grantledger/v1/client_service.js";
import { createApiKey } from "../../../services/security/api-keys.js";
import { createDevCertificates } from "../../../services/security/certs.js";
import { connectClients, type LedgerClients } from "../../support/grpc-clients.js";
import { rid } from "../../support/e2e-harness.js";
import { startTestLedger, type TestLedger } from "../../support/ledger.js";
import { startNatsServer, type NatsServer } from "../../support/nats-server.js";
import { writePolicy } from "../../support/security.js";
import { basic, form, raw } from "./support.js";

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

/**
 * The HTTP port with TLS (the gRPC port's certificate from `certs dev`), a policy and API keys:
 * introspection callers authenticate with an API key, a client certificate or client credentials,
 * and the same policy as the gRPC side decides who may introspect and which tokens they see.
 */
describe("HTTP OAuth endpoints over TLS, with the caller security of the gRPC side", () => {
  let nats: NatsServer;
  let ledger: TestLedger;
  let api: LedgerClients;
  let dir: string;
  let issuer: string;
  const keys: Record<string, string> = {};

  const https = (path: string, options: { body?: string; headers?: Record<string, string>; client?: string; method?: string } = {}): Promise<Answer> => {
    const url = new URL(path, issuer);
    const cert = options.client === undefined ? {} : { cert: readFileSync(join(dir, `${options.client}.crt`)), key: readFileSync(join(dir, `${options.client}.key`)) };
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: options.method ?? "POST",
          ca: readFileSync(join(dir, "ca.crt")),
          // The certificate names localhost too; SNI takes no IP address.
          servername: "localhost",
          ...cert,
          headers: { "content-type": "application/x-www-form-urlencoded", ...options.headers },
        },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString("utf8")));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        },
      );
      req.on("error", reject);
      req.end(options.body);
    });
  };
  const introspect = (token: string, options: { headers?: Record<string, string>; client?: string; body?: Record<string, string> } = {}) =>
    https("/oauth2/introspect", { ...options, body: form({ token, ...options.body }) });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gl-http-tls-"));
    createDevCertificates({ dir, clients: ["operator", "rs-cert", "stranger"] });
    const policyFile = writePolicy(dir, {
      roles: { "resource-server": ["IntrospectionService/Introspect"], operator: ["*"] },
      callers: {
        operator: { roles: ["operator"] },
        "rs-cert": { roles: ["resource-server"] },
        "dns-api": { roles: ["resource-server"], resources: ["acct-9"] },
      },
    });
    nats = await startNatsServer();
    ledger = await startTestLedger(nats.url, {
      roles: ["http"],
      httpPort: 0,
      tlsCertFile: join(dir, "server.crt"),
      tlsKeyFile: join(dir, "server.key"),
      tlsClientCaFile: join(dir, "ca.crt"),
      policyFile,
    });
    issuer = ledger.ledger.http?.issuer ?? "";
    const keyring = loadKeyring(ledger.config);
    for (const caller of ["dns-api", "nobody"]) keys[caller] = createApiKey(callersFile(ledger.config), keyring, caller).key;
    api = connectClients(ledger.address, 10_000, {
      tls: { ca: readFileSync(join(dir, "ca.crt")), cert: readFileSync(join(dir, "operator.crt")), key: readFileSync(join(dir, "operator.key")) },
    });
    // The API key verifier re-reads the callers file within a second.
    await new Promise((r) => setTimeout(r, 1100));
  });
  afterAll(async () => {
    api?.close();
    await ledger?.stop();
    await nats?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const tokenFor = async (resources: string[]) => {
    const client = await api.clients.registerClient({
      requestId: rid(),
      ownerAccount: "acct-tls",
      name: "TLS app",
      redirectUris: ["https://app.example.com/cb"],
      allowedScopes: ["zone:read"],
      clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL,
    });
    const grant = await api.grants.createGrant({ requestId: rid(), subject: `u-${rid()}`, clientId: client.clientId, scopes: ["zone:read"], resources, expiresAt: undefined });
    const issued = await api.tokens.issueTokens({ requestId: rid(), grantId: grant.grantId, scopes: [], includeRefreshToken: false });
    await api.introspection.introspect({ token: issued.accessToken, tokenTypeHint: undefined, minSequence: issued.sequence });
    return { client, token: issued.accessToken };
  };

  it("serves HTTPS with an https issuer, and no plaintext on the port", async () => {
    expect(issuer).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const meta = await https("/.well-known/oauth-authorization-server", { method: "GET" });
    expect(meta.status).toBe(200);
    expect((JSON.parse(meta.text) as { issuer: string }).issuer).toBe(issuer);
    await expect(raw(issuer.replace("https:", "http:"), "/.well-known/oauth-authorization-server", { method: "GET" })).rejects.toThrow();
  });

  it("a client certificate the policy lets introspect sees active tokens", async () => {
    const { token } = await tokenFor(["acct-1"]);
    const res = await introspect(token, { client: "rs-cert" });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ active: true, scope: "zone:read", resources: ["acct-1"] });
  });

  it("an API key restricted to some resources sees only those tokens; any other is {\"active\":false}", async () => {
    const hidden = await tokenFor(["acct-1"]);
    const visible = await tokenFor(["acct-9"]);
    const auth = { authorization: `Bearer ${keys["dns-api"] ?? ""}` };
    expect((await introspect(hidden.token, { headers: auth })).text).toBe('{"active":false}');
    expect(JSON.parse((await introspect(visible.token, { headers: auth })).text)).toMatchObject({ active: true });
  });

  it("403 access_denied for authenticated callers the policy does not allow (API key, certificate, client credentials)", async () => {
    const { client, token } = await tokenFor(["acct-1"]);
    const answers = [
      await introspect(token, { headers: { authorization: `Bearer ${keys["nobody"] ?? ""}` } }),
      await introspect(token, { client: "stranger" }),
      await introspect(token, { headers: { authorization: basic(client.clientId, client.clientSecret) } }),
    ];
    for (const res of answers) {
      expect({ status: res.status, error: (JSON.parse(res.text) as { error: string }).error }).toEqual({ status: 403, error: "access_denied" });
    }
  });

  it("401 without credentials (a TLS connection alone is no caller)", async () => {
    const res = await introspect("gla_x");
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(/^Basic/);
  });

  it("the token endpoint serves OAuth clients over TLS without any caller credentials", async () => {
    const { client } = await tokenFor(["acct-1"]);
    const res = await https("/oauth2/token", { body: form({ grant_type: "client_credentials" }), headers: { authorization: basic(client.clientId, client.clientSecret) } });
    expect(res.status).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-store");
  });
});

describe("HTTP port configuration", () => {
  it("refuses plain HTTP off loopback and a malformed issuer", () => {
    expect(() => loadConfig({ GL_INSECURE_DEV: "1", GL_ROLES: "http", GL_HTTP_HOST: "0.0.0.0" })).toThrow(/GL_HTTP_HOST: --insecure-dev serves plain HTTP only on loopback/);
    expect(() => loadConfig({ GL_HTTP_ISSUER: "https://as.example.com/" })).toThrow(/GL_HTTP_ISSUER/);
    expect(() => loadConfig({ GL_HTTP_ISSUER: "ftp://as.example.com" })).toThrow(/GL_HTTP_ISSUER/);
    expect(loadConfig({ GL_HTTP_PORT: "9443", GL_HTTP_ISSUER: "https://as.example.com" })).toMatchObject({ httpPort: 9443, httpIssuer: "https://as.example.com" });
    expect(loadConfig({}).roles).not.toContain("http");
  });
});
