import { describe, expect, it } from "vitest";
import { blockHashes, locateChange } from "../../../services/transparency/blocks.js";
import { leafHash, MerkleTree } from "../../../services/transparency/merkle.js";

const leaves = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`message ${i}`)));
const treeOf = (hashes: readonly Buffer[]): MerkleTree => {
  const tree = new MerkleTree();
  for (const h of hashes) tree.append(h);
  return tree;
};
const swapped = (hashes: readonly Buffer[], a: number, b: number): Buffer[] => {
  const copy = [...hashes];
  [copy[a], copy[b]] = [hashes[b] as Buffer, hashes[a] as Buffer];
  return copy;
};

describe("checkpoint block hashes: which messages moved when a signed root does not match", () => {
  it("given any earlier and later checkpoint size, the hints and the vouched-for leaves rebuild the signed root", () => {
    const original = leaves(3000);
    const signed = treeOf(original);
    for (let round = 0; round < 60; round++) {
      const size = 1 + Math.floor(Math.random() * 3000);
      const covered = Math.floor(Math.random() * size);
      const hints = blockHashes(signed, covered, size);
      if (hints === undefined) throw new Error("no hints");
      expect(hints.size).toBeGreaterThanOrEqual(16);
      expect(Buffer.from(hints.hashes, "base64").length / 32).toBeLessThanOrEqual(512);
      // Untouched: nothing differs, so nothing to name (and no error from a partial last block).
      expect(locateChange(signed, hints, covered, size, signed.root(size))).toEqual({ kind: "unknown" });
      // One message swapped after `covered`: found exactly.
      if (size - covered >= 2) {
        const a = covered + Math.floor(Math.random() * (size - covered - 1));
        const b = a + 1 + Math.floor(Math.random() * (size - a - 1));
        expect(locateChange(treeOf(swapped(original, a, b)), hints, covered, size, signed.root(size))).toEqual({ kind: "swapped", a, b });
      }
    }
  });

  it("given a swap across two distant blocks of a large checkpoint, when located, then both messages are named", () => {
    const original = leaves(30_000);
    const signed = treeOf(original);
    const hints = blockHashes(signed, 10_000, 30_000);
    expect(hints?.size).toBe(64);
    const tampered = treeOf(swapped(original, 11_234, 29_001));
    expect(locateChange(tampered, hints!, 10_000, 30_000, signed.root())).toEqual({ kind: "swapped", a: 11_234, b: 29_001 });
  });

  it("given an edited message, when located, then the block that holds it is named", () => {
    const original = leaves(1000);
    const signed = treeOf(original);
    const hints = blockHashes(signed, 500, 1000)!;
    const edited = [...original];
    edited[777] = leafHash(Buffer.from("forged"));
    expect(locateChange(treeOf(edited), hints, 500, 1000, signed.root())).toEqual({ kind: "changed", first: 768, last: 783 });
  });

  it("given forged or malformed hints, when located, then nothing is claimed", () => {
    const original = leaves(1000);
    const signed = treeOf(original);
    const tampered = treeOf(swapped(original, 600, 601));
    const hints = blockHashes(signed, 500, 1000)!;
    const forged = { ...hints, hashes: Buffer.from(hints.hashes, "base64").fill(7, 0, 32).toString("base64") };
    for (const bad of [forged, { ...hints, from: 512 }, { ...hints, size: 24 }, { ...hints, hashes: "" }, { ...hints, from: 480 }]) {
      expect(locateChange(tampered, bad, 500, 1000, signed.root())).toEqual({ kind: "unknown" });
    }
    // Hints are only trusted above leaves a matching checkpoint vouched for.
    expect(locateChange(tampered, hints, 400, 1000, signed.root())).toEqual({ kind: "unknown" });
  });
});
