import { ZodError } from "zod";
import { isDomainError, type OAuthErrorCode } from "../domain/shared/errors.js";

/**
 * An OAuth error as HTTP says it (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 7662 §2.3): status, the
 * `error` code, a description safe to show (never a token or secret), and extra headers.
 */
export class OAuthHttpError extends Error {
  readonly status: number;
  readonly code: OAuthErrorCode | "server_error";
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, code: OAuthErrorCode | "server_error", description: string, headers: Readonly<Record<string, string>> = {}) {
    super(description);
    this.name = "OAuthHttpError";
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** RFC 6749 §5.2: invalid_client is 401 with a challenge naming the scheme the client may use. */
export const CLIENT_CHALLENGE = 'Basic realm="grant-ledger", charset="UTF-8"';

export const invalidRequest = (description: string): OAuthHttpError => new OAuthHttpError(400, "invalid_request", description);

export const invalidClient = (description: string): OAuthHttpError =>
  new OAuthHttpError(401, "invalid_client", description, { "www-authenticate": CLIENT_CHALLENGE });

/**
 * The one place the domain's closed error family becomes HTTP (services/grpc/status.ts is its gRPC
 * twin): the kind picks the status, the error's OAuth code (else a default per kind) the `error`.
 * - validation → 400 (the request is wrong; the OAuth code says how, default invalid_request)
 * - illegal_state / not_found → 400 (the grant, code, token or client forbids it: invalid_grant unless the domain says otherwise)
 * - unauthenticated → 401 invalid_client with WWW-Authenticate
 * - permission_denied → 403 (an authenticated caller the policy does not allow)
 * - resource_exhausted → 429 with Retry-After (failed-secret budget or caller rate spent)
 * - conflict / unavailable → 503 temporarily_unavailable with Retry-After (nothing half-written; retry)
 * - anything else → 500 server_error, with no detail
 */
export function toHttpError(error: unknown): OAuthHttpError {
  if (error instanceof OAuthHttpError) return error;
  if (error instanceof ZodError) {
    const issue = error.issues[0];
    return invalidRequest(issue?.message ?? "invalid request");
  }
  if (!isDomainError(error)) return new OAuthHttpError(500, "server_error", "internal error");
  const retry = { "retry-after": "1" };
  switch (error.kind) {
    case "validation":
      return new OAuthHttpError(400, error.oauthCode ?? "invalid_request", error.message);
    case "illegal_state":
    case "not_found":
      // An unknown client at the token endpoint is a client authentication failure, said as such.
      if (error.oauthCode === "invalid_client") return invalidClient(error.message);
      return new OAuthHttpError(400, error.oauthCode ?? "invalid_grant", error.message);
    case "unauthenticated":
      return invalidClient(error.message);
    case "permission_denied":
      return new OAuthHttpError(403, "access_denied", error.message);
    case "resource_exhausted":
      return new OAuthHttpError(429, error.oauthCode ?? "temporarily_unavailable", error.message, retry);
    case "conflict":
    case "unavailable":
      return new OAuthHttpError(503, "temporarily_unavailable", error.message, retry);
  }
}
