import { describe, expect, it } from "vitest";
import { extendVocabulary, scopeMask, scopesOfMask } from "../../../projections/tokens/scope-bits.js";

describe("token scopes as a bitmask over the grant's scope vocabulary", () => {
  const vocabulary = ["dns:edit", "dns:read", "zone:read"];

  it("round-trips any subset given in vocabulary order", () => {
    for (let mask = 0; mask < 8; mask++) {
      const scopes = scopesOfMask(mask, vocabulary);
      expect(scopeMask(scopes, vocabulary)).toBe(mask);
    }
    expect(scopeMask(["dns:edit", "zone:read"], vocabulary)).toBe(0b101);
    expect(scopesOfMask(0b101, vocabulary)).toEqual(["dns:edit", "zone:read"]);
  });

  it("has no mask for scopes it could not give back exactly: unknown, repeated, or out of order", () => {
    expect(scopeMask(["admin"], vocabulary)).toBeUndefined();
    expect(scopeMask(["dns:read", "dns:read"], vocabulary)).toBeUndefined();
    expect(scopeMask(["zone:read", "dns:edit"], vocabulary)).toBeUndefined();
  });

  it("uses at most 53 bits (exact in a JavaScript number)", () => {
    const many = Array.from({ length: 60 }, (_, i) => `s${String(i).padStart(2, "0")}`);
    expect(scopeMask(many.slice(0, 53), many)).toBe(2 ** 53 - 1);
    expect(scopesOfMask(2 ** 53 - 1, many)).toEqual(many.slice(0, 53));
    expect(scopeMask(["s53"], many)).toBeUndefined();
  });

  it("only grows the vocabulary: a bit keeps its scope when the grant's scopes change", () => {
    const widened = extendVocabulary(vocabulary, ["account:read", "dns:read"]);
    expect(widened).toEqual(["dns:edit", "dns:read", "zone:read", "account:read"]);
    expect(extendVocabulary(widened, ["dns:read"])).toEqual(widened);
    expect(scopesOfMask(0b101, widened)).toEqual(scopesOfMask(0b101, vocabulary));
  });

  it("reads a bit past the vocabulary as no scope, never another one", () => {
    expect(scopesOfMask(0b1001, vocabulary)).toEqual(["dns:edit"]);
  });
});
