import { type DomainError, illegalState, validationError } from "./errors.js";

/** Scope names as RFC 6749 §3.3 allows them, narrowed to a safe, printable subset. */
export const SCOPE_PATTERN = /^[a-z][a-z0-9_.:-]{0,63}$/;

/** The set of scopes an app may ask for; loaded from config at the edge and passed in. */
export interface ScopeCatalog {
  readonly scopes: ReadonlySet<string>;
}

export const scopeCatalog = (scopes: Iterable<string>): ScopeCatalog => ({ scopes: new Set(scopes) });

function firstMissing(requested: readonly string[], allowed: ReadonlySet<string> | readonly string[]): number {
  const set = allowed instanceof Set ? allowed : new Set(allowed as readonly string[]);
  return requested.findIndex((scope) => !set.has(scope));
}

function check(
  make: (message: string, options: { field: string; oauthCode: "invalid_scope" }) => DomainError,
  requested: readonly string[],
  allowed: ReadonlySet<string> | readonly string[],
  field: string,
  what: string,
): void {
  const index = firstMissing(requested, allowed);
  if (index >= 0) {
    throw make(`scope "${requested[index]}" is not ${what}`, { field: `${field}[${index}]`, oauthCode: "invalid_scope" });
  }
}

/** Input check against the catalog: INVALID_ARGUMENT naming the first unknown scope by index. */
export const requireInCatalog = (requested: readonly string[], catalog: ScopeCatalog, field: string): void =>
  check(validationError, requested, catalog.scopes, field, "in the scope catalog");

/** State check against an aggregate (client's allowed, grant's granted): FAILED_PRECONDITION + `invalid_scope`. */
export const requireSubset = (
  requested: readonly string[],
  allowed: ReadonlySet<string> | readonly string[],
  field: string,
  what: string,
): void => check(illegalState, requested, allowed, field, what);

/** Sorted, duplicate-free copy: events and read models store scopes in one canonical order. */
export const normalizeScopes = (scopes: readonly string[]): string[] => [...new Set(scopes)].sort();

/**
 * The scopes in every list, in the first list's order: a token's effective scopes are its own ∩ its
 * grant's ∩ its client's allowed ones (narrowing either narrows the token at read time).
 */
export const intersectScopes = (first: readonly string[], ...others: ReadonlyArray<readonly string[]>): string[] => {
  const sets = others.map((list) => new Set(list));
  return first.filter((scope) => sets.every((set) => set.has(scope)));
};
