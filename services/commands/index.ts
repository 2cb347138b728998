export { AggregateStore, foldEnvelopes } from "./aggregate-store.js";
export {
  deleteClient,
  registerClient,
  reinstateClient,
  rotateClientSecret,
  suspendClient,
  updateClient,
} from "./client-commands.js";
export { ClientAuthenticator } from "./client-auth.js";
export { execute } from "./execute.js";
export { createGrant, updateGrantScopes } from "./grant-commands.js";
export { fingerprint, Idempotency } from "./idempotency.js";
export {
  authenticateClient,
  clientCredentials,
  clientGrantId,
  issueAuthorizationCode,
  pkceChallenge,
  redeemAuthorizationCode,
  refreshTokens,
} from "./oauth-commands.js";
export { revokeClientTokens, revokeGrant, revokeLeakedToken, revokeSubject, revokeToken } from "./revocation-commands.js";
export { issueTokens, loadIssuingContext } from "./token-commands.js";

export type { Loaded } from "./aggregate-store.js";
export type { ClientAuthLimits } from "./client-auth.js";
export type {
  ClientLifecycleInput,
  RegisterClientInput,
  RegisterClientResult,
  RotateClientSecretResult,
  UpdateClientInput,
} from "./client-commands.js";
export type {
  ClientAuthentication,
  CodeLookup,
  KnownCode,
  KnownToken,
  LedgerCommandDeps,
  OAuthCommandDeps,
  OAuthLimits,
  TokenLimits,
  TokenLookup,
} from "./deps.js";
export type {
  ClientCredentialsInput,
  ClientCredentialsResult,
  IssueAuthorizationCodeInput,
  IssueAuthorizationCodeResult,
  OAuthTokensResult,
  RedeemAuthorizationCodeInput,
  RefreshTokensInput,
  RefreshTokensResult,
} from "./oauth-commands.js";
export type { CommandContext, CommandDeps, CommandObserver, CommandOutcome, CommandPlan } from "./execute.js";
export type { CreateGrantInput } from "./grant-commands.js";
export type { RevokeTokenInput } from "./revocation-commands.js";
export type { IssueTokensInput, IssueTokensResult } from "./token-commands.js";
