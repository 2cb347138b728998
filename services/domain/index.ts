/** Public API of the pure domain core. Nothing here does I/O or reads a clock. */
export * from "./client/index.js";
export * from "./grant/index.js";
export * from "./subject/index.js";
export { CURRENT_SCHEMA_VERSION, eventSchemas, isLedgerEventType, parseEvent, upcasters } from "./events.js";
export { assertNever, fold } from "./shared/decider.js";
export {
  concurrencyConflict,
  DomainError,
  illegalState,
  isDomainError,
  notFound,
  resourceExhausted,
  unauthenticated,
  unavailable,
  validationError,
} from "./shared/errors.js";
export { decodeSubjectToken, encodeSubjectToken } from "./shared/ids.js";
export { intersectScopes, normalizeScopes, requireInCatalog, requireSubset, SCOPE_PATTERN, scopeCatalog } from "./shared/scopes.js";
export { crc32, formatToken, parseTokenKind, TOKEN_PREFIXES, TOKEN_RANDOM_BYTES } from "./shared/token-format.js";

export type { EventOf, LedgerEvent, LedgerEventType } from "./events.js";
export type { Decider } from "./shared/decider.js";
export type { DomainErrorKind, DomainErrorOptions, OAuthErrorCode } from "./shared/errors.js";
export type { ScopeCatalog } from "./shared/scopes.js";
export type { TokenKind } from "./shared/token-format.js";
