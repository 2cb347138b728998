import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MerkleTree, verifyConsistency, verifyInclusion } from "../../../services/transparency/merkle.js";
import { MTH, PATH, PROOF } from "../../support/naive-rfc9162.js";


const leafData = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => Buffer.concat([Buffer.from(`event ${i} `), randomBytes(i % 7)]));
const treeOf = (data: Buffer[]): MerkleTree => {
  const tree = new MerkleTree();
  for (const d of data) tree.appendData(d);
  return tree;
};
const hex = (hashes: Buffer[]): string[] => hashes.map((h) => h.toString("hex"));
const flip = (b: Buffer): Buffer => {
  const c = Buffer.from(b);
  c[0] = (c[0] as number) ^ 1;
  return c;
};

describe("Merkle tree vs a naive RFC 9162 implementation", () => {
  it("has the RFC root for every size from 0 to 70", () => {
    const data = leafData(70);
    const tree = treeOf(data);
    for (let n = 0; n <= 70; n++) expect(tree.root(n).toString("hex"), `size ${n}`).toBe(MTH(data.slice(0, n)).toString("hex"));
    expect(tree.root(0).toString("hex")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("generates the RFC inclusion proof, which verifies, for random sizes and leaves", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), (size, leafSeed, extra) => {
        const data = leafData(size + (extra % 20));
        const tree = treeOf(data);
        const m = leafSeed % size;
        const D = data.slice(0, size);
        const proof = tree.inclusionProof(m, size);
        expect(hex(proof)).toEqual(hex(PATH(m, D)));
        const root = MTH(D);
        const leaf = tree.leaf(m);
        expect(verifyInclusion(leaf, m, size, proof, root)).toBe(true);
        // Any change must fail: another root, leaf or index, a flipped or a missing proof hash. (A
        // proof does not always pin the size: the signed checkpoint does.)
        expect(verifyInclusion(leaf, m, size, proof, flip(root))).toBe(false);
        expect(verifyInclusion(flip(leaf), m, size, proof, root)).toBe(false);
        if (size > 1) {
          expect(verifyInclusion(leaf, (m + 1) % size, size, proof, root)).toBe(false);
          expect(verifyInclusion(leaf, m, size, proof.slice(1), root)).toBe(false);
          const i = leafSeed % proof.length;
          expect(verifyInclusion(leaf, m, size, proof.map((h, j) => (j === i ? flip(h) : h)), root)).toBe(false);
        }
      }),
      { numRuns: 150 },
    );
  });

  it("generates the RFC consistency proof, which verifies, for random size pairs", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), (a, b) => {
        const [m, n] = a <= b ? [a, b] : [b, a];
        const data = leafData(n);
        const tree = treeOf(data);
        const proof = tree.consistencyProof(m, n);
        expect(hex(proof)).toEqual(hex(m === n ? [] : PROOF(m, data)));
        const oldRoot = MTH(data.slice(0, m));
        const newRoot = MTH(data);
        expect(verifyConsistency(m, n, proof, oldRoot, newRoot)).toBe(true);
        expect(verifyConsistency(m, n, proof, flip(oldRoot), newRoot)).toBe(false);
        expect(verifyConsistency(m, n, proof, oldRoot, flip(newRoot))).toBe(false);
        if (m < n) {
          expect(verifyConsistency(m, n, proof.map((h, j) => (j === 0 ? flip(h) : h)), oldRoot, newRoot)).toBe(false);
          expect(verifyConsistency(m, n, proof.slice(0, -1), oldRoot, newRoot)).toBe(false);
        }
      }),
      { numRuns: 150 },
    );
  });

  it("proves at 100k leaves in well under a millisecond per proof", () => {
    const tree = new MerkleTree();
    const started = performance.now();
    for (let i = 0; i < 100_000; i++) tree.appendData(Buffer.from(`message ${i}`));
    const built = performance.now() - started;
    const t0 = performance.now();
    let ok = 0;
    const rounds = 1000;
    for (let i = 0; i < rounds; i++) {
      const size = 50_000 + ((i * 7919) % 50_000);
      const index = (i * 104_729) % size;
      const root = tree.root(size);
      if (verifyInclusion(tree.leaf(index), index, size, tree.inclusionProof(index, size), root)) ok++;
      const old = 1 + ((i * 31) % size);
      if (verifyConsistency(old, size, tree.consistencyProof(old, size), tree.root(old), root)) ok++;
    }
    const perRound = (performance.now() - t0) / rounds;
    expect(ok).toBe(2 * rounds);
    console.log(`merkle: 100k leaves appended in ${built.toFixed(0)} ms; root + inclusion + consistency proof and verify: ${(perRound * 1000).toFixed(0)} µs`);
    expect(perRound).toBeLessThan(5);
  });
});
