import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeSubjectToken, encodeSubjectToken, isDomainError } from "../../../services/domain/index.js";

/** Any UTF-16 code unit, lone surrogates included: ids arrive as arbitrary JS strings. */
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const anyString = fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.string({ unit: anyCodeUnit }), fc.string({ unit: "grapheme" }));

describe("encodeSubjectToken", () => {
  it.each(["cli_1", "A-z_09", "x".repeat(128)])("passes the subject-safe id %s through unchanged", (id) => {
    expect(encodeSubjectToken(id)).toBe(id);
  });

  it.each([
    ["a dot", "user.1", "~dXNlci4x"],
    ["an email", "a@b.c", "~YUBiLmM"],
    ["a wildcard", ">", "~Pg"],
    ["the empty id", "", "~"],
    ["a non-ASCII id", "é", "~w6k"],
    ["an id that looks encoded", "~Pg", "~flBn"],
    ["a 4-byte character", "😀", "~8J-YgA"],
    ["the last code point", "\u{10FFFF}", "~9I-_vw"],
    ["a lone surrogate, as WTF-8 rather than U+FFFD", "\uD800", "~7aCA"],
  ])("encodes %s as base64url of its UTF-8", (_what, id, encoded) => {
    expect(encodeSubjectToken(id)).toBe(encoded);
  });

  it("encodes an id one character over the length limit", () => {
    expect(encodeSubjectToken("x".repeat(129))).toMatch(/^~/);
  });

  it("round-trips any string", () => {
    fc.assert(
      fc.property(anyString, (id) => {
        expect(decodeSubjectToken(encodeSubjectToken(id))).toBe(id);
      }),
      { numRuns: 2_000 },
    );
  });

  it("round-trips an id too long to decode in one String.fromCharCode call", () => {
    const id = "é.".repeat(200_000);
    expect(decodeSubjectToken(encodeSubjectToken(id))).toBe(id);
  });

  it("never yields a subject separator, wildcard or whitespace", () => {
    fc.assert(
      fc.property(anyString, (id) => {
        expect(encodeSubjectToken(id)).toMatch(/^[A-Za-z0-9_~-]+$/);
      }),
      { numRuns: 2_000 },
    );
  });

  it("gives different ids different tokens", () => {
    fc.assert(
      fc.property(anyString, anyString, (a, b) => {
        fc.pre(a !== b);
        expect(encodeSubjectToken(a)).not.toBe(encodeSubjectToken(b));
      }),
    );
  });
});

describe("decodeSubjectToken", () => {
  it.each([
    ["a dot", "a.b"],
    ["a non-alphabet character", "~ab+c"],
    ["an impossible length", "~abcde"],
    ["another spelling of a safe id", "~YWJj"],
    ["non-zero padding bits", "~Ph"],
    ["an overlong UTF-8 form", "~wK8"],
    ["a truncated UTF-8 sequence", "~ww"],
    ["a stray continuation byte", "~gA"],
    ["a bad continuation byte", "~w0E"],
    ["a code point beyond U+10FFFF", "~9JCAgA"],
  ])("rejects %s", (_what, token) => {
    let caught: unknown;
    try {
      decodeSubjectToken(token);
    } catch (error) {
      caught = error;
    }
    expect(isDomainError(caught) && caught.kind).toBe("validation");
  });
});
