import { z } from "zod";
import { assertFresh, type ActiveToken, type Staleness } from "../grpc/index.js";
import type { ResourceServerAuth } from "./caller.js";
import { invalidRequest } from "./errors.js";
import { readForm, type FormLimits } from "./form.js";
import { json, type Endpoint } from "./reply.js";

/** What the introspection endpoint is built from. */
export interface IntrospectionEndpointDeps {
  readonly callers: ResourceServerAuth;
  /** The decision the gRPC IntrospectionService makes (services/grpc/introspection-service.ts). */
  readonly introspect: (token: string, now: number, allowed: readonly string[] | undefined, appliedSeq?: number) => ActiveToken | undefined;
  /** The read model's applied position: read once per request for the caller memo and the lookup. */
  readonly appliedSeq: () => number;
  readonly staleness?: Staleness | undefined;
  readonly issuer: () => string;
  readonly form: FormLimits;
}

/** RFC 7662 §2.2: every inactive case, whatever the reason, is this and nothing else. */
const INACTIVE = Object.freeze({ active: false });

const schema = z.object({
  token: z.string({ error: "token is required" }).max(4096, "token is longer than 4096 characters"),
  token_type_hint: z.string().max(64, "token_type_hint is longer than 64 characters").optional(),
});

/** RFC 7662 §2.2 members; `token_type` is RFC 6749's ("Bearer") for access tokens. */
const activeResponse = (t: ActiveToken, issuer: string) => ({
  active: true,
  scope: t.scope,
  client_id: t.clientId,
  sub: t.subject,
  exp: Math.floor(t.expiresAt / 1000),
  iat: Math.floor(t.issuedAt / 1000),
  iss: issuer,
  jti: t.tokenId,
  token_type: t.kind === "access_token" ? "Bearer" : "refresh_token",
  grant_id: t.grantId,
  resources: t.resources,
});

/**
 * `POST /oauth2/introspect` (RFC 7662), as named steps: read the form → authenticate and authorize
 * the caller (401 / 403 / 429) → validate → fail closed when the read model is stale (503) → the
 * same decision as the gRPC Introspect → `{"active":false}` for every inactive case. A read only:
 * nothing is ever appended here.
 */
export function introspectionEndpoint(deps: IntrospectionEndpointDeps): Endpoint {
  return async (request, ctx) => {
    const form = await readForm(request, deps.form);
    const now = ctx.now();
    // One read of the position (PRAGMA data_version in a reader of another process's file, ~3-5 µs)
    // for the caller memo and the introspection lookup, both made in this same synchronous step
    // unless something has to be waited for; after any wait the lookup reads the position again.
    let position: number | undefined = deps.appliedSeq();
    const authenticated = deps.callers.authenticate(request, form, "Introspect", now, position);
    let caller;
    if (authenticated instanceof Promise) {
      caller = await authenticated;
      position = undefined;
    } else caller = authenticated;
    ctx.who = caller.identity;
    const parsed = schema.safeParse(Object.fromEntries(form));
    if (!parsed.success) throw invalidRequest(parsed.error.issues[0]?.message ?? "invalid request");
    if (deps.staleness !== undefined && !deps.staleness.isFresh()) {
      await assertFresh(deps.staleness, 1000);
      position = undefined;
    }
    const found = deps.introspect(parsed.data.token, now, caller.resources, position);
    return json(found === undefined ? INACTIVE : activeResponse(found, deps.issuer()));
  };
}
