export { graceSuccessor, isGrantActive, isTokenActiveInGrant, isTokenRevoked } from "./activity.js";
export { CODE_REUSE_REASON, effectiveGrantScopes, familyStartedAt, OFFLINE_ACCESS, REFRESH_REUSE_REASON } from "./flows.js";
export { decideGrant } from "./decide.js";
export { grantDecider } from "./decider.js";
export { grantEventSchemas } from "./events.js";
export { evolveGrant } from "./evolve.js";
export { initialGrantState } from "./state.js";

export type {
  CreateGrant,
  GrantCommand,
  IssueAuthorizationCode,
  IssueClientCredentials,
  IssueTokens,
  IssuingContext,
  MintedToken,
  RedeemAuthorizationCode,
  RefreshTokens,
  RevokeGrant,
  RevokeToken,
  UpdateGrantScopes,
} from "./commands.js";
export type { GrantEvent, GrantEventType, IssuedToken } from "./events.js";
export type { Consumption, GrantCode, GrantKind, GrantState, GrantStatus, GrantToken } from "./state.js";
