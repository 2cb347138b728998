import { z } from "zod";
import { authenticateClient, revokeToken, type OAuthCommandDeps } from "../commands/index.js";
import { parseTokenKind } from "../domain/shared/token-format.js";
import type { Freshness } from "../grpc/index.js";
import { presentedClient } from "./client-auth.js";
import { invalidRequest, OAuthHttpError } from "./errors.js";
import { readForm, type FormLimits } from "./form.js";
import type { Endpoint } from "./reply.js";

/** What the revocation endpoint is built from. */
export interface RevocationEndpointDeps {
  readonly commands: OAuthCommandDeps;
  readonly form: FormLimits;
  /** As at the token endpoint: the answer waits (bounded) until this process's read model applied the revocation. */
  readonly freshness: Freshness;
  readonly readYourWritesMs: number;
}

const schema = z.object({
  token: z.string({ error: "token is required" }).max(4096, "token is longer than 4096 characters"),
  token_type_hint: z.string().max(64, "token_type_hint is longer than 64 characters").optional(),
});

/** Well-formed ledger secrets that are not tokens this endpoint revokes (RFC 7009 §2.2.1). */
const UNSUPPORTED = new Set(["authorization_code", "client_secret", "api_key"]);

/**
 * `POST /oauth2/revoke` (RFC 7009), as named steps: read the form → authenticate the client (the
 * commands' own check; `none` for a public client) → validate → refuse secrets that are not tokens
 * (`unsupported_token_type`) → RevokeToken limited to the client's own tokens → 200 with an empty
 * body, also for unknown, malformed, foreign and already revoked tokens (§2.2). The hint is only a
 * hint: the token's own prefix says what it is.
 */
export function revocationEndpoint(deps: RevocationEndpointDeps): Endpoint {
  return async (request, ctx) => {
    const form = await readForm(request, deps.form);
    const client = presentedClient(request, form);
    ctx.who = client.clientId;
    await authenticateClient(deps.commands, ctx, client.clientId, client.clientSecret);
    const parsed = schema.safeParse(Object.fromEntries(form));
    if (!parsed.success) throw invalidRequest(parsed.error.issues[0]?.message ?? "invalid request");
    const kind = parseTokenKind(parsed.data.token);
    if (kind !== undefined && UNSUPPORTED.has(kind)) {
      throw new OAuthHttpError(400, "unsupported_token_type", "only access and refresh tokens are revoked here");
    }
    const { sequence } = await revokeToken(deps.commands, { actor: `oauth-client:${client.clientId}`, requestId: ctx.requestId, now: ctx.now }, {
      token: parsed.data.token,
      clientId: client.clientId,
    });
    // After a 200 the token is inactive at this process's introspection endpoint too.
    if (sequence > 0) await deps.freshness.waitFor(sequence, deps.readYourWritesMs);
    return { status: 200 };
  };
}
