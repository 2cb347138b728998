import type { Metadata, ServerUnaryCall } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { permissionDenied, resourceExhausted, unauthenticated } from "../domain/shared/errors.js";
import { CALLER_IDENTITY, type Policy } from "../security/policy.js";
import type { ApiKeyVerifier } from "../security/api-keys.js";
import { INTROSPECTING_METHODS, qualifiedMethod, SECRET_CHECKING_METHODS } from "../security/methods.js";
import { RateLimiter, type Rate } from "../security/rate-limit.js";

/** Who is calling, as authenticated: events record `identity` as the actor. */
export interface Caller {
  readonly identity: string;
  /** How the identity was established. */
  readonly via: "mtls" | "api_key" | "insecure_dev" | "oauth_client";
  /** Introspect reveals only tokens covering one of these resources; undefined: every token. */
  readonly resources: readonly string[] | undefined;
}

/** What the wrappers need from a call: its metadata and its TLS peer. */
export interface IncomingCall {
  readonly metadata: Metadata;
  getAuthContext(): AuthContext;
}

/** Options of {@link CallerGate}. */
export interface CallerGateOptions {
  /**
   * `--insecure-dev`: a call without credentials is the `x-actor` header's caller (or
   * `anonymous`), and without a policy every caller may call everything.
   */
  readonly insecureDev: boolean;
  /** API keys (`authorization: Bearer glk_...`); none accepted when absent. */
  readonly apiKeys?: ApiKeyVerifier;
  /** The authorization policy; absent: allow all under insecureDev, deny all otherwise. */
  readonly policy?: Policy;
  /** Default per-caller rates (the policy may override them per caller). */
  readonly rates: { readonly introspect: Rate; readonly secretChecks: Rate };
  readonly logger: Logger;
}

type AuthContext = ReturnType<ServerUnaryCall<unknown, unknown>["getAuthContext"]>;

const PRINTABLE = /^[\x21-\x7e]{1,128}$/;
const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/;

/** The identity a client certificate proves: its subject CN, else its first URI or DNS SAN. */
export function certificateIdentity(auth: AuthContext): string | undefined {
  const cert = auth.sslPeerCertificate;
  if (cert === undefined || cert === null || cert.subject === undefined) return undefined;
  const cn: unknown = cert.subject.CN;
  const first = Array.isArray(cn) ? (cn[0] as unknown) : cn;
  if (typeof first === "string" && CALLER_IDENTITY.test(first)) return first;
  for (const name of (cert.subjectaltname ?? "").split(", ")) {
    const value = name.replace(/^(URI|DNS):/, "");
    if (value !== name && CALLER_IDENTITY.test(value)) return value;
  }
  return undefined;
}

/**
 * Caller security in one place, run by the unary and streaming wrappers before anything else:
 * authenticate (API key, else client certificate, else — only under --insecure-dev — `x-actor`)
 * → authorize (policy, default deny) → rate limit (Introspect, secret-checking RPCs).
 */
export class CallerGate {
  readonly #options: CallerGateOptions;
  readonly #limiter = new RateLimiter();

  constructor(options: CallerGateOptions) {
    this.#options = options;
  }

  /**
   * The authenticated, authorized caller; throws UNAUTHENTICATED, PERMISSION_DENIED or
   * RESOURCE_EXHAUSTED. `cost`: what the call takes from a rate-limited bucket (the tokens of a batch).
   */
  admit(call: IncomingCall, method: string, now: number, cost = 1): Caller {
    const { identity, via } = this.#authenticate(call, now);
    return this.authorize(identity, via, method, now, cost);
  }

  /** The identity an API key proves; undefined for a malformed, unknown or revoked key. */
  verifyApiKey(key: string, now: number): string | undefined {
    return this.#options.apiKeys?.verify(key, now);
  }

  /**
   * Authorize → rate limit for a caller authenticated elsewhere (the HTTP endpoints authenticate
   * callers by client credentials too): the same policy and limits as every RPC.
   */
  authorize(identity: string, via: Caller["via"], method: string, now: number, cost = 1): Caller {
    const qualified = qualifiedMethod(method);
    const { policy, insecureDev } = this.#options;
    const grant = policy?.caller(identity);
    if (policy === undefined ? !insecureDev : !policy.allows(identity, qualified)) {
      // Logged, not appended: a denial is not a ledger fact.
      this.#options.logger.warn({ caller: identity, via, method: qualified }, "rpc denied by the authorization policy");
      throw permissionDenied(`caller "${identity}" may not call ${qualified}`);
    }
    const limited = INTROSPECTING_METHODS.has(qualified) ? "introspect" : SECRET_CHECKING_METHODS.has(qualified) ? "secretChecks" : undefined;
    if (limited !== undefined) {
      const rate = grant?.rateLimits[limited] ?? this.#options.rates[limited];
      if (!this.#limiter.take(`${limited}\0${identity}`, rate, now, cost)) {
        const what = limited === "introspect" ? "introspection" : "secret-check";
        // A batch larger than the bucket can never pass: say so rather than invite a retry.
        if (rate.perSecond > 0 && cost > rate.burst) {
          throw resourceExhausted(`caller "${identity}" sent ${cost} tokens, more than its ${what} burst of ${rate.burst}; send smaller batches`);
        }
        throw resourceExhausted(`caller "${identity}" exceeded its ${what} rate; retry later`);
      }
    }
    return { identity, via, resources: grant?.resources };
  }

  #authenticate(call: IncomingCall, now: number): { identity: string; via: Caller["via"] } {
    const authorization = call.metadata.get("authorization");
    if (authorization.length > 0) {
      const match = authorization.length === 1 && typeof authorization[0] === "string" ? BEARER.exec(authorization[0]) : null;
      const identity = match?.[1] === undefined ? undefined : this.#options.apiKeys?.verify(match[1], now);
      if (identity === undefined) throw unauthenticated("invalid API key: send authorization: Bearer glk_... with a current key");
      return { identity, via: "api_key" };
    }
    const fromCertificate = certificateIdentity(call.getAuthContext());
    if (fromCertificate !== undefined) return { identity: fromCertificate, via: "mtls" };
    if (this.#options.insecureDev) {
      const actor = call.metadata.get("x-actor")[0];
      return { identity: typeof actor === "string" && PRINTABLE.test(actor) ? actor : "anonymous", via: "insecure_dev" };
    }
    throw unauthenticated("no caller credentials: present a client certificate or authorization: Bearer glk_...");
  }
}
