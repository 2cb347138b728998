export {
  applyTokensEvent,
  createTokensProjection,
  prepareTokensStatements,
  TOKENS_PROJECTION,
  TOKENS_PROJECTION_NAME,
  TOKENS_PROJECTION_VERSION,
  tokensHandlers,
} from "./handlers.js";
export { TokensReadModel } from "./queries.js";
export { CLEANUP_START, deleteExpiredTokens, deleteExpiredTokensBatch, startTokenCleanup } from "./cleanup.js";
export { deleteRevoked, deleteRevokedBatch, sequenceStoredBefore, startCursor, startRevokedRetention } from "./retention.js";
export { migrateTokens, storedHash, TOKENS_SCHEMA } from "./schema.js";
export { countTokensByState } from "./stats.js";

export type {
  TokensApplyContext,
  TokensHandlers,
  TokensProjectionOptions,
  TokensStatements,
} from "./handlers.js";
export type {
  ClientStatus,
  ClientView,
  CodeRef,
  GrantFilter,
  GrantStatus,
  GrantView,
  IntrospectedToken,
  ListClientsOptions,
  ListGrantsOptions,
  TokenKind,
  TokenRef,
} from "./queries.js";
export type { CleanupBatch, CleanupCursor, DeleteExpiredTokensOptions, TokenCleanupOptions } from "./cleanup.js";
export type { TokenCounts } from "./stats.js";
export type { RetentionBatch, RetentionCursor, RetentionTable, RevokedRetentionOptions } from "./retention.js";
