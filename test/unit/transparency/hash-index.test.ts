import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { HashIndex } from "../../../services/transparency/hash-index.js";
import { HashArray } from "../../../services/transparency/merkle.js";

describe("HashIndex: positions of 32-byte hashes stored elsewhere", () => {
  it("finds every hash added, through growth, and nothing else", () => {
    const store = new HashArray();
    const index = new HashIndex((position) => store.at(position - 1));
    const hashes = Array.from({ length: 5_000 }, (_, i) => createHash("sha256").update(`m${i}`).digest());
    for (const hash of hashes) {
      store.push(hash);
      index.add(hash, store.length);
    }
    hashes.forEach((hash, i) => expect(index.get(hash)).toBe(i + 1));
    for (let i = 0; i < 200; i++) expect(index.get(randomBytes(32))).toBeUndefined();
    expect(index.get(Buffer.alloc(31))).toBeUndefined();
  });

  it("tells apart hashes that share their first bytes (the same starting slot)", () => {
    const store = new HashArray();
    const index = new HashIndex((position) => store.at(position - 1));
    const twins = Array.from({ length: 50 }, () => {
      const hash = randomBytes(32);
      hash.writeUInt32LE(0xdeadbeef, 0);
      return hash;
    });
    for (const hash of twins) {
      store.push(hash);
      index.add(hash, store.length);
    }
    twins.forEach((hash, i) => expect(index.get(hash)).toBe(i + 1));
    const stranger = randomBytes(32);
    stranger.writeUInt32LE(0xdeadbeef, 0);
    expect(index.get(stranger)).toBeUndefined();
  });
});
