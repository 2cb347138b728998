import { AuditServiceService } from "../gen/grantledger/v1/audit_service.js";
import { ClientServiceService } from "../gen/grantledger/v1/client_service.js";
import { GrantServiceService } from "../gen/grantledger/v1/grant_service.js";
import { IntrospectionServiceService } from "../gen/grantledger/v1/introspection_service.js";
import { RevocationServiceService } from "../gen/grantledger/v1/revocation_service.js";
import { TokenServiceService } from "../gen/grantledger/v1/token_service.js";

const PACKAGE = "grantledger.v1.";

type Definition = Readonly<Record<string, { readonly path: string }>>;

/** `Service/Method` (short service name) of every ledger RPC, from the generated definitions. */
export const LEDGER_METHODS: readonly string[] = [
  AuditServiceService,
  ClientServiceService,
  GrantServiceService,
  IntrospectionServiceService,
  RevocationServiceService,
  TokenServiceService,
].flatMap((definition: Definition) => Object.values(definition).map((method) => method.path.slice(1).replace(PACKAGE, "")));

/** Short method name (what the unary/stream wrappers are given) → `Service/Method`. */
const BY_METHOD = new Map(LEDGER_METHODS.map((full) => [full.slice(full.indexOf("/") + 1), full]));

/** `Introspect` → `IntrospectionService/Introspect`; unknown names stay as they are (and match no grant). */
export const qualifiedMethod = (method: string): string => BY_METHOD.get(method) ?? method;

/** The RPCs that check a client secret: rate limited per caller like Introspect. */
export const SECRET_CHECKING_METHODS: ReadonlySet<string> = new Set([
  "TokenService/RedeemAuthorizationCode",
  "TokenService/RefreshTokens",
  "TokenService/ClientCredentials",
]);

export const INTROSPECT_METHOD = "IntrospectionService/Introspect";

/**
 * The RPCs that draw on a caller's introspection rate (one bucket for both): IntrospectBatch takes
 * one token per introspected token, so batching changes the cost per call, not what a caller may do.
 */
export const INTROSPECTING_METHODS: ReadonlySet<string> = new Set([INTROSPECT_METHOD, "IntrospectionService/IntrospectBatch"]);

/**
 * A policy permission: `*`, `Service/*` or `Service/Method`, the service short or package-qualified
 * (`grantledger.v1.ClientService/*`). Normalized to the short form; undefined when it names no RPC.
 */
export function normalizePermission(permission: string): string | undefined {
  const short = permission.startsWith(PACKAGE) ? permission.slice(PACKAGE.length) : permission;
  if (short === "*") return short;
  const [service, method, ...rest] = short.split("/");
  if (service === undefined || method === undefined || rest.length > 0) return undefined;
  if (method === "*") return LEDGER_METHODS.some((m) => m.startsWith(`${service}/`)) ? short : undefined;
  return LEDGER_METHODS.includes(short) ? short : undefined;
}

/** Whether a normalized permission covers the qualified method. */
export const permits = (permission: string, method: string): boolean =>
  permission === "*" || permission === method || (permission.endsWith("/*") && method.startsWith(permission.slice(0, -1)));
