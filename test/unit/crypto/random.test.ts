import { describe, expect, it } from "vitest";
import { randomBytesPooled } from "../../../services/crypto/random.js";

describe("randomBytesPooled", () => {
  it("never hands out the same bytes twice, across pool refills", () => {
    const seen = new Set<string>();
    // 2,000 × 32 bytes spans ~16 refills of the 4 KiB pool; 12-byte draws interleave like sealing IVs.
    for (let i = 0; i < 2000; i++) {
      for (const n of [32, 12]) {
        const bytes = randomBytesPooled(n);
        expect(bytes.length).toBe(n);
        const hex = bytes.toString("hex");
        expect(seen.has(hex)).toBe(false);
        seen.add(hex);
      }
    }
  });

  it("does not let one draw alias another: writing to one leaves the next untouched", () => {
    const a = randomBytesPooled(16);
    const b = randomBytesPooled(16);
    const before = Buffer.from(b);
    a.fill(0);
    expect(b).toEqual(before);
  });

  it("serves a draw larger than the pool directly", () => {
    expect(randomBytesPooled(10_000).length).toBe(10_000);
  });
});
