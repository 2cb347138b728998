import BetterSqlite3 from "better-sqlite3";
import { Metadata, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import pino from "pino";
import { createTokensProjection, TokensReadModel } from "../../projections/tokens/index.js";
import { createKeyring, hashToken, type HashKey, type Keyring } from "../../services/crypto/keys.js";
import { mintToken } from "../../services/crypto/mint.js";
import type {
  IntrospectBatchRequest,
  IntrospectBatchResponse,
  IntrospectRequest,
  IntrospectResponse,
} from "../../services/gen/grantledger/v1/introspection_service.js";
import type { Caller, CallerGate } from "../../services/grpc/auth.js";
import { guardRpcs } from "../../services/grpc/handler.js";
import { introspectionService } from "../../services/grpc/introspection-service.js";
import type { ReadModel } from "../../services/grpc/read-model.js";
import type { GrpcDeps } from "../../services/grpc/services.js";
import { clientRegistered, EnvelopeBuilder, grantCreated, HOUR, issued, tokenIssued, tokenRevoked } from "./envelopes.js";

/** The inactive kinds an Introspect answer must not let a caller tell apart, and one active token. */
export const INACTIVE_KINDS = ["malformed", "unknown", "revoked", "hidden"] as const;
export type TokenCase = (typeof INACTIVE_KINDS)[number] | "active";

/** How much work the service did: keyed hashes (reads of a key's secret) and read-model calls. */
export interface WorkCounts {
  hmacs: number;
  lookups: number;
}

/** A key whose secret counts its reads: `hashToken` reads it once per HMAC. */
function countingKey(id: string, fill: number, counts: WorkCounts): HashKey {
  const secret = Buffer.alloc(32, fill);
  return {
    id,
    get secret() {
      counts.hmacs++;
      return secret;
    },
  };
}

/** Counts every call into the read model the service was given, whatever the method. */
function countingReadModel(inner: ReadModel, counts: WorkCounts): ReadModel {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        counts.lookups++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Flips a token's last character: same length and prefix, bad checksum. */
const breakChecksum = (token: string): string => token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");

export interface IntrospectionRig {
  readonly tokens: Readonly<Record<TokenCase, string>>;
  readonly counts: WorkCounts;
  readonly keyring: Keyring;
  /** Introspect through the in-process gRPC handler (gate, zod, service), as the restricted caller. */
  introspect(token: string): Promise<IntrospectResponse>;
  /** IntrospectBatch through the same in-process handler and caller. */
  introspectBatch(tokens: readonly string[]): Promise<IntrospectBatchResponse>;
  close(): void;
}

/**
 * An in-memory tokens read model behind the real Introspect handler, with a keyring of two
 * verifying keys (as after a rotation) and a caller restricted to resource `acct:1`. Tokens:
 * active (old key), revoked (current key), hidden (another resource), unknown, malformed.
 */
export function introspectionRig(): IntrospectionRig {
  const counts: WorkCounts = { hmacs: 0, lookups: 0 };
  const older = countingKey("k1", 1, counts);
  const current = countingKey("k2", 2, counts);
  const keyring = createKeyring(current, [older], { id: "rq", secret: Buffer.alloc(32, 3) });
  const tokens: Record<TokenCase, string> = {
    active: mintToken("access_token"),
    revoked: mintToken("access_token"),
    hidden: mintToken("access_token"),
    unknown: mintToken("access_token"),
    malformed: breakChecksum(mintToken("access_token")),
  };
  const silentHash = (key: HashKey, token: string): string => {
    const before = counts.hmacs;
    const hash = hashToken(key, token);
    counts.hmacs = before;
    return hash;
  };

  const db = new BetterSqlite3(":memory:");
  const projection = createTokensProjection();
  projection.migrate(db);
  const envelopes = new EnvelopeBuilder();
  // Real time (the handler reads Date.now): issued at the fixtures' T0, expiring a year from now.
  const later = Date.now() + 365 * 24 * HOUR;
  for (const events of [
    [clientRegistered("client-1")],
    [grantCreated("grant-1", { resources: ["acct:1"], scopes: ["profile:read"] })],
    [grantCreated("grant-2", { resources: ["acct:2"], scopes: ["profile:read"] })],
    [
      tokenIssued("grant-1", [
        issued("at-active", { hash: silentHash(older, tokens.active), expiresAt: later }),
        issued("at-revoked", { hash: silentHash(current, tokens.revoked), expiresAt: later }),
      ]),
    ],
    [tokenIssued("grant-2", [issued("at-hidden", { hash: silentHash(current, tokens.hidden), expiresAt: later })])],
    [tokenRevoked("grant-1", { tokenIds: ["at-revoked"] })],
  ]) {
    const envelope = envelopes.next(events);
    db.transaction(() => projection.apply(db, envelope))();
  }

  const logger = pino({ level: "silent" });
  const caller: Caller = { identity: "rs-acct-1", via: "api_key", resources: ["acct:1"] };
  guardRpcs(logger, { admit: () => caller } as unknown as CallerGate);
  const deps = {
    logger,
    readModel: countingReadModel(new TokensReadModel(db), counts),
    keyring,
    freshness: { appliedSeq: () => Number.MAX_SAFE_INTEGER, waitFor: () => Promise.resolve(true) },
    minSequenceWaitMs: 0,
  } as unknown as GrpcDeps;
  const service = introspectionService(deps);

  return {
    tokens,
    counts,
    keyring,
    introspect: (token) =>
      new Promise((resolve, reject) => {
        const call = { request: { token, tokenTypeHint: "", minSequence: undefined }, metadata: new Metadata(), getAuthContext: () => ({}) };
        const callback: sendUnaryData<IntrospectResponse> = (error, response) => {
          if (error === null && response !== null && response !== undefined) resolve(response);
          else reject(error instanceof Error ? error : new Error("Introspect answered nothing"));
        };
        service.introspect(call as unknown as ServerUnaryCall<IntrospectRequest, IntrospectResponse>, callback);
      }),
    introspectBatch: (batch) =>
      new Promise((resolve, reject) => {
        const call = { request: { tokens: [...batch], tokenTypeHint: "", minSequence: undefined }, metadata: new Metadata(), getAuthContext: () => ({}) };
        const callback: sendUnaryData<IntrospectBatchResponse> = (error, response) => {
          if (error === null && response !== null && response !== undefined) resolve(response);
          else reject(error instanceof Error ? error : new Error("IntrospectBatch answered nothing"));
        };
        service.introspectBatch(call as unknown as ServerUnaryCall<IntrospectBatchRequest, IntrospectBatchResponse>, callback);
      }),
    close: () => db.close(),
  };
}
