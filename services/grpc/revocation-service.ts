import { z } from "zod";
import type { RevocationServiceServer } from "../gen/grantledger/v1/revocation_service.js";
import { revokeClientTokens, revokeGrant, revokeLeakedToken, revokeSubject, revokeToken } from "../commands/index.js";
import { ledgerId, reason, requestId, requiredText } from "./fields.js";
import { unary } from "./handler.js";
import type { GrpcDeps } from "./services.js";

const tokenSchema = z.object({
  requestId,
  token: z.string().min(1, "token is required").max(4096, "token is longer than 4096 characters"),
  tokenTypeHint: z.string().max(64).optional(),
  clientId: ledgerId("client_id").optional(),
});

export function revocationService(deps: GrpcDeps): RevocationServiceServer {
  const { logger, commands } = deps;
  return {
    revokeToken: unary(logger, "RevokeToken", tokenSchema, (input, ctx) => revokeToken(commands, ctx, input)),
    revokeGrant: unary(logger, "RevokeGrant", z.object({ requestId, grantId: ledgerId("grant_id"), reason }), (input, ctx) =>
      revokeGrant(commands, ctx, input),
    ),
    revokeSubject: unary(logger, "RevokeSubject", z.object({ requestId, subject: requiredText("subject", 256), reason }), (input, ctx) =>
      revokeSubject(commands, ctx, input),
    ),
    // The same empty answer whether the token was known, unknown or malformed (after validation).
    revokeLeakedToken: unary(
      logger,
      "RevokeLeakedToken",
      z.object({
        requestId,
        token: z.string().min(1, "token is required").max(4096, "token is longer than 4096 characters"),
        source: z.string().max(2048, "source is longer than 2048 characters"),
      }),
      async (input, ctx) => {
        await revokeLeakedToken(commands, ctx, input);
        return {};
      },
    ),
    revokeClientTokens: unary(logger, "RevokeClientTokens", z.object({ requestId, clientId: ledgerId("client_id"), reason }), (input, ctx) =>
      revokeClientTokens(commands, ctx, input),
    ),
  };
}
