import { z } from "zod";
import type { TokenServiceServer } from "../gen/grantledger/v1/token_service.js";
import {
  clientCredentials,
  issueAuthorizationCode,
  issueTokens,
  redeemAuthorizationCode,
  refreshTokens,
  type OAuthTokensResult,
} from "../commands/index.js";
import { codeVerifier, ledgerId, opaque, requestId, scopeList } from "./fields.js";
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
  const scopes = scopeList("scopes", 0, deps.limits.maxScopesPerGrant);
  const codeSchema = z
    .object({
      requestId,
      grantId: ledgerId("grant_id"),
      redirectUri: z.string().min(1, "redirect_uri is required").max(2000, "redirect_uri is longer than 2000 characters"),
      codeChallenge: z.string().refine((c) => c === "" || CHALLENGE.test(c), "code_challenge must be 43 base64url characters (S256)"),
      codeChallengeMethod: z.string(),
      scopes,
    })
    .superRefine((v, ctx) => {
      // RFC 9700 §2.1.1: S256 only; "plain" would hand the verifier to whoever sees the request.
      if (v.codeChallengeMethod !== "" && v.codeChallengeMethod !== "S256") {
        ctx.addIssue({ code: "custom", path: ["codeChallengeMethod"], message: "code_challenge_method must be S256" });
      }
      if (v.codeChallengeMethod !== "" && v.codeChallenge === "") {
        ctx.addIssue({ code: "custom", path: ["codeChallenge"], message: "code_challenge is required with code_challenge_method" });
      }
    });
  const redeemSchema = z.object({
    requestId,
    code: opaque("code"),
    clientId: ledgerId("client_id"),
    clientSecret: opaque("client_secret", false),
    redirectUri: z.string().min(1, "redirect_uri is required").max(2000, "redirect_uri is longer than 2000 characters"),
    codeVerifier,
  });
  const refreshSchema = z.object({
    requestId,
    refreshToken: opaque("refresh_token"),
    clientId: ledgerId("client_id"),
    clientSecret: opaque("client_secret", false),
    scopes,
  });
  const clientCredentialsSchema = z.object({ requestId, clientId: ledgerId("client_id"), clientSecret: opaque("client_secret", false), scopes });
  return {
    issueTokens: unary(deps.logger, "IssueTokens", schema, async (input, ctx) => {
      const issued = await issueTokens(deps.commands, ctx, { ...input, scopes: [...new Set(input.scopes)] });
      return { ...issued, tokenType: "Bearer", scope: issued.scopes.join(" ") };
    }),
    issueAuthorizationCode: unary(deps.logger, "IssueAuthorizationCode", codeSchema, async (input, ctx) => {
      const issued = await issueAuthorizationCode(deps.commands, ctx, {
        grantId: input.grantId,
        redirectUri: input.redirectUri,
        codeChallenge: input.codeChallenge === "" ? null : input.codeChallenge,
        scopes: input.scopes,
      });
      return { code: issued.code, codeId: issued.codeId, expiresIn: issued.expiresIn, sequence: issued.sequence, scope: issued.scopes.join(" ") };
    }),
    redeemAuthorizationCode: unary(deps.logger, "RedeemAuthorizationCode", redeemSchema, async (input, ctx) =>
      tokensResponse(
        await redeemAuthorizationCode(deps.commands, ctx, { ...input, codeVerifier: input.codeVerifier === "" ? null : input.codeVerifier }),
      ),
    ),
    refreshTokens: unary(deps.logger, "RefreshTokens", refreshSchema, async (input, ctx) => {
      const refreshed = await refreshTokens(deps.commands, ctx, input);
      return { ...tokensResponse(refreshed), grace: refreshed.grace };
    }),
    clientCredentials: unary(deps.logger, "ClientCredentials", clientCredentialsSchema, async (input, ctx) => {
      const issued = await clientCredentials(deps.commands, ctx, input);
      return {
        accessToken: issued.accessToken,
        expiresIn: issued.expiresIn,
        accessTokenId: issued.accessTokenId,
        sequence: issued.sequence,
        tokenType: "Bearer",
        scope: issued.scopes.join(" "),
      };
    }),
  };
}

/** RFC 7636 §4.2 S256 challenge: base64url of 32 bytes. */
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

const tokensResponse = (r: OAuthTokensResult) => ({
  accessToken: r.accessToken,
  refreshToken: r.refreshToken,
  expiresIn: r.expiresIn,
  accessTokenId: r.accessTokenId,
  refreshTokenId: r.refreshTokenId,
  sequence: r.sequence,
  tokenType: "Bearer",
  scope: r.scopes.join(" "),
  grantId: r.grantId,
});
