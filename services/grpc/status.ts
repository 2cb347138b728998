import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { ZodError } from "zod";
import { isDomainError, type DomainErrorKind } from "../domain/shared/errors.js";

/**
 * The one place domain errors become gRPC statuses.
 * - INVALID_ARGUMENT: the request itself is wrong; fixing the named field fixes it.
 * - FAILED_PRECONDITION: the request is fine but the aggregate's state forbids it (grant revoked,
 *   client suspended, scope not allowed); an OAuth error code says which.
 * - NOT_FOUND: an id names nothing.
 * - ABORTED: optimistic-concurrency retries ran out under contention; the caller may retry.
 * - UNAUTHENTICATED: the client's credentials (client_secret) are missing or wrong (`invalid_client`).
 * - RESOURCE_EXHAUSTED: too many failed secret checks for this client; retry after a pause.
 * - UNAVAILABLE: the log or read model cannot answer now; nothing was half-written; retry.
 */
const CODE_BY_KIND: { readonly [K in DomainErrorKind]: status } = {
  validation: status.INVALID_ARGUMENT,
  illegal_state: status.FAILED_PRECONDITION,
  not_found: status.NOT_FOUND,
  conflict: status.ABORTED,
  unauthenticated: status.UNAUTHENTICATED,
  permission_denied: status.PERMISSION_DENIED,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
  unavailable: status.UNAVAILABLE,
};

const snake = (segment: string): string => segment.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** `redirectUris.2` → `redirect_uris[2]`: errors name fields as the proto does. */
export function protoFieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => {
    if (typeof part === "number") return `${out}[${part}]`;
    const name = snake(String(part));
    return out === "" ? name : `${out}.${name}`;
  }, "");
}

/** A gRPC error for any thrown value: domain errors and zod issues keep their meaning, the rest is INTERNAL. */
export function toServiceError(error: unknown): Partial<ServiceError> & { code: status } {
  const metadata = new Metadata();
  if (error instanceof ZodError) {
    const issue = error.issues[0];
    const field = issue === undefined ? "" : protoFieldPath(issue.path);
    if (field !== "") metadata.set("gl-field", field);
    metadata.set("gl-oauth-error", "invalid_request");
    return { code: status.INVALID_ARGUMENT, details: `${field}: ${issue?.message ?? "invalid request"}`, metadata };
  }
  if (isDomainError(error)) {
    if (error.field !== undefined) metadata.set("gl-field", error.field);
    if (error.oauthCode !== undefined) metadata.set("gl-oauth-error", error.oauthCode);
    const prefix = [error.oauthCode, error.field].filter((p) => p !== undefined).join(" ");
    return { code: CODE_BY_KIND[error.kind], details: prefix === "" ? error.message : `${prefix}: ${error.message}`, metadata };
  }
  return { code: status.INTERNAL, details: "internal error", metadata };
}
