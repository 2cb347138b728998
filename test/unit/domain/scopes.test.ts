import { describe, expect, it } from "vitest";
import { type DomainError, normalizeScopes, requireInCatalog, requireSubset, SCOPE_PATTERN, scopeCatalog } from "../../../services/domain/index.js";

const thrown = (run: () => void): DomainError => {
  try {
    run();
  } catch (error) {
    return error as DomainError;
  }
  throw new Error("expected a throw");
};

describe("requireInCatalog", () => {
  const catalog = scopeCatalog(["openid", "accounts:read"]);

  it("accepts scopes in the catalog", () => {
    expect(() => requireInCatalog(["accounts:read", "openid"], catalog, "allowed_scopes")).not.toThrow();
  });

  it("rejects an unknown scope as a validation error naming its index", () => {
    expect(thrown(() => requireInCatalog(["openid", "admin"], catalog, "allowed_scopes"))).toMatchObject({
      kind: "validation",
      field: "allowed_scopes[1]",
      oauthCode: "invalid_scope",
      message: expect.stringContaining('"admin"') as unknown,
    });
  });
});

describe("requireSubset", () => {
  it.each([
    ["an array", ["openid", "accounts:read"]],
    ["a set", new Set(["openid", "accounts:read"])],
  ])("accepts a subset of %s", (_what, allowed) => {
    expect(() => requireSubset(["openid"], allowed, "scopes", "granted")).not.toThrow();
    expect(() => requireSubset([], allowed, "scopes", "granted")).not.toThrow();
  });

  it.each([
    ["an array", ["openid"]],
    ["a set", new Set(["openid"])],
  ])("rejects a scope outside %s as illegal state", (_what, allowed) => {
    expect(thrown(() => requireSubset(["openid", "payments:write"], allowed, "scopes", "granted"))).toMatchObject({
      kind: "illegal_state",
      field: "scopes[1]",
      oauthCode: "invalid_scope",
      message: 'scope "payments:write" is not granted',
    });
  });
});

describe("normalizeScopes", () => {
  it("sorts and removes duplicates without touching its input", () => {
    const input = ["payments:write", "openid", "accounts:read", "openid"];
    expect(normalizeScopes(input)).toEqual(["accounts:read", "openid", "payments:write"]);
    expect(input).toEqual(["payments:write", "openid", "accounts:read", "openid"]);
  });
});

describe("SCOPE_PATTERN", () => {
  it.each(["openid", "accounts:read", "a.b_c-d:e1"])("accepts %s", (scope) => expect(SCOPE_PATTERN.test(scope)).toBe(true));
  it.each(["", "Read", "1scope", "a b", "a\"b", "x".repeat(65)])("rejects %j", (scope) => expect(SCOPE_PATTERN.test(scope)).toBe(false));
});
