import { randomUUID } from "node:crypto";
import { status, type Metadata, type ServiceError } from "@grpc/grpc-js";
import { expect } from "vitest";
import { ClientType } from "../../services/gen/grantledger/v1/client_service.js";
import type { IntrospectResponse } from "../../services/gen/grantledger/v1/introspection_service.js";
import type { ConfigInput } from "../../services/config/config.js";
import { connectClients, actor, type LedgerClients } from "./grpc-clients.js";
import { startTestLedger, type TestLedger } from "./ledger.js";
import { startNatsServer, type NatsServer } from "./nats-server.js";

/** One e2e file's world: a real nats-server, the whole ledger in-process, real gRPC clients. */
export interface E2E {
  readonly nats: NatsServer;
  readonly ledger: TestLedger;
  readonly api: LedgerClients;
  /** The stream's last sequence: unchanged after a rejected command. */
  head(): Promise<number>;
  stop(): Promise<void>;
}

export async function startE2E(overrides: ConfigInput = {}): Promise<E2E> {
  const nats = await startNatsServer();
  let ledger: TestLedger;
  try {
    ledger = await startTestLedger(nats.url, overrides);
  } catch (error) {
    await nats.stop();
    throw error;
  }
  const api = connectClients(ledger.address);
  return {
    nats,
    ledger,
    api,
    head: () => ledger.ledger.log.headSequence(),
    async stop() {
      api.close();
      await ledger.stop();
      await nats.stop();
    },
  };
}

/** A fresh idempotency key. */
export const rid = (): string => randomUUID();

/** `secret` with its last character changed (always changed: a fixed replacement may equal it). */
export const tampered = (secret: string): string => secret.slice(0, -1) + (secret.endsWith("x") ? "y" : "x");

/** What every inactive token answers: `active=false` and nothing else. */
export const INACTIVE: IntrospectResponse = {
  active: false,
  scope: "",
  clientId: "",
  sub: "",
  exp: 0,
  iat: 0,
  tokenType: "",
  jti: "",
  grantId: "",
  resources: [],
};

export interface ExpectedFailure {
  readonly code: status;
  /** Must appear in the details text (the field name, the OAuth code, ...). */
  readonly details?: readonly string[];
  /** The `gl-oauth-error` trailing metadata. */
  readonly oauth?: string;
  /** The `gl-field` trailing metadata. */
  readonly field?: string;
}

/** Awaits a call that must fail, and checks its status code, details and trailing metadata. */
export async function expectFailure(call: Promise<unknown>, expected: ExpectedFailure): Promise<ServiceError> {
  let error: ServiceError | undefined;
  try {
    await call;
  } catch (e) {
    error = e as ServiceError;
  }
  if (error === undefined) throw new Error(`expected ${status[expected.code]}, but the call succeeded`);
  expect({ code: status[error.code], details: error.details }).toMatchObject({ code: status[expected.code] });
  for (const part of expected.details ?? []) expect(error.details).toContain(part);
  if (expected.oauth !== undefined) expect(error.metadata.get("gl-oauth-error")).toEqual([expected.oauth]);
  if (expected.field !== undefined) expect(error.metadata.get("gl-field")).toEqual([expected.field]);
  return error;
}

/**
 * Runs a call that must be rejected as `expected` and proves nothing was appended: the stream's
 * head is the same before and after.
 */
export async function expectRejectedWithoutAppend(e2e: E2E, call: () => Promise<unknown>, expected: ExpectedFailure): Promise<ServiceError> {
  const before = await e2e.head();
  const error = await expectFailure(call(), expected);
  expect(await e2e.head()).toBe(before);
  return error;
}

export interface Fixture {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly grantId: string;
  readonly subject: string;
  readonly sequence: number;
}

/** Registers a confidential client with `scopes` and creates a grant for a fresh subject with all of them. */
export async function clientAndGrant(
  api: LedgerClients,
  options: { scopes?: string[]; grantScopes?: string[]; subject?: string; resources?: string[]; metadata?: Metadata } = {},
): Promise<Fixture> {
  const scopes = options.scopes ?? ["account:read", "zone:read", "zone:edit", "offline_access"];
  const md = options.metadata ?? actor("e2e");
  const registered = await api.clients.registerClient(
    {
      requestId: rid(),
      ownerAccount: `owner-${randomUUID()}`,
      name: "E2E app",
      redirectUris: ["https://app.example.com/callback"],
      allowedScopes: scopes,
      clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL,
    },
    md,
  );
  const subject = options.subject ?? `user-${randomUUID()}`;
  const grant = await api.grants.createGrant(
    {
      requestId: rid(),
      subject,
      clientId: registered.clientId,
      scopes: options.grantScopes ?? scopes,
      resources: options.resources ?? ["acct-1"],
      expiresAt: undefined,
    },
    md,
  );
  return { clientId: registered.clientId, clientSecret: registered.clientSecret, grantId: grant.grantId, subject, sequence: grant.sequence };
}

/** Issues an access token (and a refresh token) under `grantId` with default TTL and all granted scopes. */
export function issue(api: LedgerClients, grantId: string, options: { refresh?: boolean; scopes?: string[]; ttl?: number } = {}) {
  return api.tokens.issueTokens(
    {
      requestId: rid(),
      grantId,
      scopes: options.scopes ?? [],
      includeRefreshToken: options.refresh ?? true,
      accessTokenTtlSeconds: options.ttl,
    },
    actor("e2e"),
  );
}

/** Introspects `token` after the read model applied `minSequence`. */
export function introspect(api: LedgerClients, token: string, minSequence?: number) {
  return api.introspection.introspect({ token, tokenTypeHint: undefined, minSequence });
}
