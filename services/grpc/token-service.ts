import { z } from "zod";
import type { TokenServiceServer } from "../gen/grantledger/v1/token_service.js";
import { issueTokens } from "../commands/index.js";
import { ledgerId, requestId } from "./fields.js";
import { unary } from "./handler.js";
import type { GrpcDeps } from "./services.js";
import { SCOPE_PATTERN } from "../domain/shared/scopes.js";

export function tokenService(deps: GrpcDeps): TokenServiceServer {
  const schema = z.object({
    requestId,
    grantId: ledgerId("grant_id"),
    scopes: z.array(z.string().regex(SCOPE_PATTERN, "is not a valid scope name")).max(64, "scopes has more than 64 scopes"),
    includeRefreshToken: z.boolean(),
    accessTokenTtlSeconds: z
      .number()
      .int()
      .min(1, "access_token_ttl_seconds must be at least 1")
      .max(deps.maxAccessTokenTtlSeconds, `access_token_ttl_seconds must be at most ${deps.maxAccessTokenTtlSeconds}`)
      .optional(),
  });
  return {
    issueTokens: unary(deps.logger, "IssueTokens", schema, async (input, ctx) => {
      const issued = await issueTokens(deps.commands, ctx, { ...input, scopes: [...new Set(input.scopes)] });
      return { ...issued, tokenType: "Bearer", scope: issued.scopes.join(" ") };
    }),
  };
}
