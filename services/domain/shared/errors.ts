/**
 * The one closed family of domain errors. Only the gRPC layer maps a kind to a status code
 * (services/grpc/status.ts); everything else throws these and lets them travel.
 */
export type DomainErrorKind =
  | "validation"
  | "illegal_state"
  | "not_found"
  | "conflict"
  | "unauthenticated"
  | "permission_denied"
  | "resource_exhausted"
  | "unavailable";

/** OAuth error codes (RFC 6749 §5.2, RFC 7009, RFC 6750) carried where one applies. */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "invalid_scope"
  | "invalid_token"
  | "unsupported_token_type"
  | "access_denied"
  | "temporarily_unavailable";

export interface DomainErrorOptions {
  /** The input field the error is about, e.g. `scopes[2]`, so callers can fix their request. */
  field?: string;
  oauthCode?: OAuthErrorCode;
  cause?: unknown;
}

export class DomainError extends Error {
  readonly kind: DomainErrorKind;
  readonly field: string | undefined;
  readonly oauthCode: OAuthErrorCode | undefined;

  constructor(kind: DomainErrorKind, message: string, options: DomainErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DomainError";
    this.kind = kind;
    this.field = options.field;
    this.oauthCode = options.oauthCode;
  }
}

export const validationError = (message: string, options?: DomainErrorOptions): DomainError =>
  new DomainError("validation", message, options);

export const illegalState = (message: string, options?: DomainErrorOptions): DomainError =>
  new DomainError("illegal_state", message, options);

export const notFound = (message: string, options?: DomainErrorOptions): DomainError =>
  new DomainError("not_found", message, options);

export const concurrencyConflict = (message: string, options?: DomainErrorOptions): DomainError =>
  new DomainError("conflict", message, options);

export const unauthenticated = (message: string, options?: DomainErrorOptions): DomainError =>
  new DomainError("unauthenticated", message, options);

/** The caller is authenticated but its role does not grant this RPC. */
export const permissionDenied = (message: string, options?: DomainErrorOptions): DomainError =>
  new DomainError("permission_denied", message, options);

/** A per-caller limit (e.g. failed client-secret checks) is used up for now; retry later. */
export const resourceExhausted = (message: string, options?: DomainErrorOptions): DomainError =>
  new DomainError("resource_exhausted", message, options);

export const unavailable = (message: string, options?: DomainErrorOptions): DomainError =>
  new DomainError("unavailable", message, options);

export const isDomainError = (error: unknown): error is DomainError => error instanceof DomainError;
