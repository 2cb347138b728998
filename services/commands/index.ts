export { AggregateStore, foldEnvelopes } from "./aggregate-store.js";
export { deleteClient, registerClient, reinstateClient, suspendClient } from "./client-commands.js";
export { execute } from "./execute.js";
export { createGrant } from "./grant-commands.js";
export { fingerprint, Idempotency } from "./idempotency.js";
export { revokeGrant, revokeSubject, revokeToken } from "./revocation-commands.js";
export { issueTokens } from "./token-commands.js";

export type { Loaded } from "./aggregate-store.js";
export type { ClientLifecycleInput, RegisterClientInput, RegisterClientResult } from "./client-commands.js";
export type { KnownToken, LedgerCommandDeps, TokenLimits, TokenLookup } from "./deps.js";
export type { CommandContext, CommandDeps, CommandOutcome, CommandPlan } from "./execute.js";
export type { CreateGrantInput } from "./grant-commands.js";
export type { RevokeTokenInput } from "./revocation-commands.js";
export type { IssueTokensInput, IssueTokensResult } from "./token-commands.js";
