export { isGrantActive, isTokenActiveInGrant, isTokenRevoked } from "./activity.js";
export { decideGrant } from "./decide.js";
export { grantDecider } from "./decider.js";
export { grantEventSchemas } from "./events.js";
export { evolveGrant } from "./evolve.js";
export { initialGrantState } from "./state.js";

export type { CreateGrant, GrantCommand, IssueTokens, MintedToken, RevokeGrant, RevokeToken } from "./commands.js";
export type { GrantEvent, GrantEventType, IssuedToken } from "./events.js";
export type { GrantState, GrantStatus, GrantToken } from "./state.js";
