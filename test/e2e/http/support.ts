import { request as httpRequest, type OutgoingHttpHeaders } from "node:http";
import { ClientType } from "../../../services/gen/grantledger/v1/client_service.js";
import type { ConfigInput } from "../../../services/config/config.js";
import { actor } from "../../support/grpc-clients.js";
import { rid, startE2E, type E2E } from "../../support/e2e-harness.js";

/** The e2e world with the `http` role on a free loopback port (plain HTTP: --insecure-dev). */
export async function startHttpE2E(overrides: ConfigInput = {}): Promise<E2E & { issuer: string }> {
  const e2e = await startE2E({ roles: ["http"], httpPort: 0, ...overrides });
  const issuer = e2e.ledger.ledger.http?.issuer;
  if (issuer === undefined) {
    await e2e.stop();
    throw new Error("the ledger did not start its HTTP port");
  }
  return Object.assign(e2e, { issuer });
}

export const REDIRECT = "https://app.example.com/callback";

/** Registers a client through gRPC (the product's console does that), returning its id and secret. */
export async function registerClient(e2e: E2E, type: "confidential" | "public", scopes = ["zone:read", "dns:edit", "offline_access"]) {
  const registered = await e2e.api.clients.registerClient(
    {
      requestId: rid(),
      ownerAccount: "acct-http",
      name: `HTTP ${type} app`,
      redirectUris: [REDIRECT],
      allowedScopes: scopes,
      clientType: type === "confidential" ? ClientType.CLIENT_TYPE_CONFIDENTIAL : ClientType.CLIENT_TYPE_PUBLIC,
    },
    actor("console"),
  );
  return { clientId: registered.clientId, clientSecret: registered.clientSecret };
}

/** A user's consent (grant) for `clientId`, created by the front door over gRPC. */
export async function consent(e2e: E2E, clientId: string, scopes = ["zone:read", "dns:edit", "offline_access"]) {
  const grant = await e2e.api.grants.createGrant(
    { requestId: rid(), subject: `user-${rid()}`, clientId, scopes, resources: ["acct-1"], expiresAt: undefined },
    actor("front-door"),
  );
  return grant.grantId;
}

/** An authorization code the front door issued after consent (the ledger has no authorization endpoint). */
export async function authorizationCode(e2e: E2E, grantId: string, challenge: string, scopes = ["zone:read", "offline_access"]) {
  const issued = await e2e.api.tokens.issueAuthorizationCode(
    { requestId: rid(), grantId, redirectUri: REDIRECT, codeChallenge: challenge, codeChallengeMethod: challenge === "" ? "" : "S256", scopes },
    actor("front-door"),
  );
  return issued.code;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The body parsed as JSON, or undefined. */
  readonly json: Record<string, unknown> | undefined;
}

/** One raw HTTP request (no client library: hostile input goes out exactly as written). */
export function raw(issuer: string, path: string, options: { method?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer } = {}): Promise<RawResponse> {
  const url = new URL(path, issuer);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method: options.method ?? "POST", headers: options.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** A form body, every value percent-encoded. */
export const form = (params: Record<string, string>): string => new URLSearchParams(params).toString();

export const FORM = { "content-type": "application/x-www-form-urlencoded" } as const;

export const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
