import type { ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { OAuthCommandDeps } from "../commands/index.js";
import type { Keyring } from "../crypto/keys.js";
import type { AuditServiceDeps } from "./audit-service.js";
import type { CallerGate } from "./auth.js";
import type { Staleness } from "./consistency.js";
import type { Freshness, ReadModel } from "./read-model.js";

/** What the gRPC services are built from. */
export interface GrpcDeps {
  readonly logger: Logger;
  readonly commands: OAuthCommandDeps;
  readonly readModel: ReadModel;
  readonly freshness: Freshness;
  readonly keyring: Keyring;
  readonly minSequenceWaitMs: number;
  readonly maxAccessTokenTtlSeconds: number;
  /** Input limits checked at the edge (services/config/config.ts documents each). */
  readonly limits: EdgeLimits;
  /** The AuditService (replay, search, point in time, proofs); not served when absent. */
  readonly audit?: AuditServiceDeps;
  /** The services to register (default all); health lists only these. */
  readonly services?: readonly string[];
  /** Caller security: the port's credentials (TLS / mTLS / insecure-dev) and the per-call gate. */
  readonly security: { readonly credentials: ServerCredentials; readonly gate: CallerGate };
  /** Staleness bound: Introspect fails closed (UNAVAILABLE) while it is exceeded; unchecked when absent. */
  readonly staleness?: Staleness;
}

/** Request limits checked by the zod schemas, from config. */
export interface EdgeLimits {
  readonly maxScopesPerGrant: number;
  readonly maxRedirectUris: number;
  readonly maxSecretOverlapSeconds: number;
}
