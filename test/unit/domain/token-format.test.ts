import { describe, expect, it } from "vitest";
import { crc32, formatToken, parseTokenKind, TOKEN_PREFIXES, TOKEN_RANDOM_BYTES, type TokenKind } from "../../../services/domain/index.js";

const KINDS = Object.keys(TOKEN_PREFIXES) as TokenKind[];
const bytes = (seed: number): Uint8Array => Uint8Array.from({ length: TOKEN_RANDOM_BYTES }, (_, i) => (i * 37 + seed * 101) & 0xff);
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const token = formatToken("access_token", bytes(1));

describe("formatToken / parseTokenKind", () => {
  it.each(KINDS)("round-trips a %s", (kind) => {
    const formatted = formatToken(kind, bytes(7));
    expect(formatted).toMatch(new RegExp(`^${TOKEN_PREFIXES[kind]}_[0-9A-Za-z]{49}$`));
    expect(parseTokenKind(formatted)).toBe(kind);
  });

  it.each([
    ["all zero", new Uint8Array(TOKEN_RANDOM_BYTES)],
    ["all ones", new Uint8Array(TOKEN_RANDOM_BYTES).fill(0xff)],
  ])("keeps a fixed length for %s randomness", (_what, random) => {
    expect(parseTokenKind(formatToken("refresh_token", random))).toBe("refresh_token");
  });

  it("gives different randomness different tokens", () => {
    expect(formatToken("access_token", bytes(1))).not.toBe(formatToken("access_token", bytes(2)));
  });

  it("rejects randomness of the wrong size", () => {
    expect(() => formatToken("access_token", new Uint8Array(TOKEN_RANDOM_BYTES - 1))).toThrow(RangeError);
    expect(() => formatToken("access_token", new Uint8Array(TOKEN_RANDOM_BYTES + 1))).toThrow(RangeError);
  });

  it("fails the checksum when any one body character is changed", () => {
    const start = token.indexOf("_") + 1;
    for (let i = start; i < token.length; i++) {
      const original = token[i] as string;
      const replacement = BASE62[(BASE62.indexOf(original) + 1) % BASE62.length] as string;
      const flipped = token.slice(0, i) + replacement + token.slice(i + 1);
      expect(parseTokenKind(flipped), `changed position ${i}`).toBeUndefined();
    }
  });

  it("fails the checksum when the prefix is swapped for another kind's", () => {
    for (const kind of KINDS.filter((k) => k !== "access_token")) {
      expect(parseTokenKind(TOKEN_PREFIXES[kind] + token.slice(3))).toBeUndefined();
    }
  });

  it.each([
    ["an unknown prefix", `glx${token.slice(3)}`],
    ["one character short", token.slice(0, -1)],
    ["one character long", `${token}0`],
    ["no separator", token.replace("_", "")],
    ["a non-base62 character", `${token.slice(0, 10)}-${token.slice(11)}`],
    ["a non-ASCII character", `${token.slice(0, 10)}é${token.slice(11)}`],
    ["the empty string", ""],
  ])("rejects %s", (_what, candidate) => {
    expect(parseTokenKind(candidate)).toBeUndefined();
  });
});

describe("parseTokenKind alphabet check", () => {
  it("rejects a non-base62 body even when its checksum matches", () => {
    const head = `gla_${"0".repeat(42)}-`;
    const forged = head + checksumOf(head);
    // The same construction yields a valid token when the body is base62, so only the alphabet check rejects `forged`.
    expect(parseTokenKind(`gla_${"0".repeat(43)}${checksumOf(`gla_${"0".repeat(43)}`)}`)).toBe("access_token");
    expect(forged).toHaveLength(token.length);
    expect(parseTokenKind(forged)).toBeUndefined();
  });
});

function checksumOf(head: string): string {
  let checksum = "";
  for (let v = crc32(head); checksum.length < 6; v = Math.floor(v / 62)) checksum = BASE62[v % 62] + checksum;
  return checksum;
}

describe("crc32", () => {
  it("matches the IEEE check value", () => {
    expect(crc32("123456789")).toBe(0xcbf43926);
    expect(crc32("")).toBe(0);
  });
});
