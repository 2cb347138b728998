import { z } from "zod";
import type { IntrospectionServiceServer, IntrospectResponse } from "../gen/grantledger/v1/introspection_service.js";
import { parseTokenKind } from "../domain/shared/token-format.js";
import { hashToken } from "../crypto/keys.js";
import { servesAny } from "../security/policy.js";
import { minSequence } from "./fields.js";
import { assertFresh, awaitSequence } from "./consistency.js";
import { unary } from "./handler.js";
import type { ActiveToken } from "./read-model.js";
import type { GrpcDeps } from "./services.js";

/** One frozen answer for every inactive case, so no field can tell unknown from revoked from garbage. */
const INACTIVE: IntrospectResponse = Object.freeze({
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
});

const schema = z.object({
  token: z.string().min(1, "token is required").max(4096, "token is longer than 4096 characters"),
  tokenTypeHint: z.string().max(64).optional(),
  minSequence,
});

const active = (t: ActiveToken): IntrospectResponse => ({
  active: true,
  scope: t.scope,
  clientId: t.clientId,
  sub: t.subject,
  exp: Math.floor(t.expiresAt / 1000),
  iat: Math.floor(t.issuedAt / 1000),
  tokenType: t.kind,
  jti: t.tokenId,
  grantId: t.grantId,
  resources: [...t.resources],
});

/**
 * RFC 7662 over gRPC, answered from the read model only (never the log, never a write): reject
 * malformed tokens by checksum before any lookup, then one point lookup per verifying key.
 */
export function introspectionService(deps: GrpcDeps): IntrospectionServiceServer {
  const lookup = (token: string, now: number): ActiveToken | undefined => {
    const kind = parseTokenKind(token);
    if (kind !== "access_token" && kind !== "refresh_token") return undefined;
    for (const key of deps.keyring.verifying) {
      const found = deps.readModel.introspect(hashToken(key, token), now);
      if (found !== undefined) return found.kind === kind ? found : undefined;
    }
    return undefined;
  };
  return {
    introspect: unary(deps.logger, "Introspect", schema, async (input, ctx) => {
      await awaitSequence(deps.freshness, input.minSequence, deps.minSequenceWaitMs);
      // After the min_sequence wait: that may be what brings the read model back within the bound.
      await assertFresh(deps.staleness, Math.min(deps.minSequenceWaitMs, 1000));
      const found = lookup(input.token, ctx.now());
      // A caller restricted to some resources sees any other token exactly like an unknown one.
      const allowed = ctx.caller.resources;
      if (found === undefined || (allowed !== undefined && !servesAny(allowed, found.resources))) return INACTIVE;
      return active(found);
    }),
  };
}
