import { z } from "zod";
import { clientCredentials, redeemAuthorizationCode, refreshTokens, type OAuthCommandDeps } from "../commands/index.js";
import type { Freshness } from "../grpc/index.js";
import { SCOPE_PATTERN } from "../domain/shared/scopes.js";
import { presentedClient, type PresentedClient } from "./client-auth.js";
import { invalidRequest, OAuthHttpError } from "./errors.js";
import { readForm, type FormLimits } from "./form.js";
import { json, type Endpoint, type HttpContext } from "./reply.js";

/** What the token endpoint is built from. */
export interface TokenEndpointDeps {
  readonly commands: OAuthCommandDeps;
  readonly maxScopesPerGrant: number;
  readonly form: FormLimits;
  /** This process's read model, and how long an answer waits for it to apply the write (see below). */
  readonly freshness: Freshness;
  readonly readYourWritesMs: number;
}

export const GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"] as const;

const bounded = (name: string, max = 4096) => z.string({ error: `${name} is required` }).max(max, `${name} is longer than ${max} characters`);

const codeGrant = z.object({
  code: bounded("code"),
  redirect_uri: bounded("redirect_uri", 2000),
  // RFC 7636 §4.1: 43–128 unreserved characters.
  code_verifier: z
    .string()
    .regex(/^[A-Za-z0-9._~-]{43,128}$/, "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")
    .optional(),
});
const refreshGrant = z.object({ refresh_token: bounded("refresh_token") });

/** RFC 6749 §3.3: space-delimited scope tokens; a malformed one is `invalid_scope`. */
function scopesOf(form: ReadonlyMap<string, string>, max: number): string[] {
  const scope = form.get("scope");
  if (scope === undefined) return [];
  const scopes = [...new Set(scope.split(" ").filter((s) => s !== ""))];
  if (scopes.length > max) throw new OAuthHttpError(400, "invalid_scope", `scope has more than ${max} scopes`);
  if (!scopes.every((s) => SCOPE_PATTERN.test(s))) throw new OAuthHttpError(400, "invalid_scope", "scope holds a malformed scope name");
  return scopes;
}

function parse<T>(schema: z.ZodType<T>, form: ReadonlyMap<string, string>): T {
  const parsed = schema.safeParse(Object.fromEntries(form));
  if (!parsed.success) throw invalidRequest(parsed.error.issues[0]?.message ?? "invalid request");
  return parsed.data;
}

/** RFC 6749 §5.1 successful response. */
const tokenResponse = (r: { accessToken: string; expiresIn: number; scopes: readonly string[]; refreshToken?: string; sequence: number }) => ({
  access_token: r.accessToken,
  token_type: "Bearer",
  expires_in: r.expiresIn,
  ...(r.refreshToken === undefined || r.refreshToken === "" ? {} : { refresh_token: r.refreshToken }),
  scope: r.scopes.join(" "),
});

/**
 * `POST /oauth2/token` (RFC 6749 §3.2, §4.1.3, §4.4, §6; PKCE RFC 7636), as named steps: read the
 * form → the client's credentials (one method) → the grant's parameters (zod) → the command the
 * gRPC TokenService runs, which authenticates the client and decides every rule → wait (bounded)
 * until this process's read model has applied the append → respond. HTTP has no `min_sequence`:
 * the wait is what lets the client's resource server introspect the new token at once. Each request
 * is its own idempotency key: an HTTP retry is a new attempt, as OAuth clients expect.
 */
export function tokenEndpoint(deps: TokenEndpointDeps): Endpoint {
  return async (request, ctx) => {
    const form = await readForm(request, deps.form);
    const grantType = form.get("grant_type");
    if (grantType === undefined) throw invalidRequest("grant_type is required");
    if (!(GRANT_TYPES as readonly string[]).includes(grantType)) {
      throw new OAuthHttpError(400, "unsupported_grant_type", `grant_type must be one of ${GRANT_TYPES.join(", ")}`);
    }
    const client = presentedClient(request, form);
    ctx.who = client.clientId;
    const issued = await grant(deps, ctx, grantType as (typeof GRANT_TYPES)[number], client, form);
    // The tokens are durable in the log already: a read model slower than the bound delays nothing more.
    await deps.freshness.waitFor(issued.sequence, deps.readYourWritesMs);
    return json(tokenResponse(issued));
  };
}

type Issued = Parameters<typeof tokenResponse>[0];

async function grant(
  deps: TokenEndpointDeps,
  ctx: HttpContext,
  grantType: (typeof GRANT_TYPES)[number],
  client: PresentedClient,
  form: ReadonlyMap<string, string>,
): Promise<Issued> {
  // The client is the actor: nothing is appended before the command has authenticated it.
  const command = { actor: `oauth-client:${client.clientId}`, requestId: ctx.requestId, now: ctx.now };
  const credentials = { clientId: client.clientId, clientSecret: client.clientSecret };
  switch (grantType) {
    case "authorization_code": {
      const input = parse(codeGrant, form);
      return redeemAuthorizationCode(deps.commands, command, {
        ...credentials,
        code: input.code,
        redirectUri: input.redirect_uri,
        codeVerifier: input.code_verifier ?? null,
      });
    }
    case "refresh_token": {
      const input = parse(refreshGrant, form);
      const scopes = scopesOf(form, deps.maxScopesPerGrant);
      return refreshTokens(deps.commands, command, { ...credentials, refreshToken: input.refresh_token, scopes });
    }
    case "client_credentials": {
      const scopes = scopesOf(form, deps.maxScopesPerGrant);
      return clientCredentials(deps.commands, command, { ...credentials, scopes });
    }
  }
}
