import { createHash } from "node:crypto";

/**
 * An independent, naive RFC 9162 §2.1 implementation for tests: the recursive definitions exactly as
 * the RFC writes them, on arrays of entries (quadratic, fine for a few hundred leaves). Shares no code
 * with services/transparency.
 */
// MTH({}) = SHA-256(); MTH({d0}) = SHA-256(0x00 || d0); MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
// with k the largest power of two smaller than n. PATH and PROOF/SUBPROOF as in §2.1.3.1 and §2.1.4.1.

const sha = (...parts: Uint8Array[]): Buffer => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};
const largestPow2Below = (n: number): number => {
  let k = 1;
  while (k < n) k <<= 1;
  return k >> 1;
};
export const MTH = (D: Buffer[]): Buffer => {
  const n = D.length;
  if (n === 0) return sha();
  if (n === 1) return sha(Buffer.from([0]), D[0] as Buffer);
  const k = largestPow2Below(n);
  return sha(Buffer.from([1]), MTH(D.slice(0, k)), MTH(D.slice(k)));
};
export const PATH = (m: number, D: Buffer[]): Buffer[] => {
  const n = D.length;
  if (n === 1) return [];
  const k = largestPow2Below(n);
  return m < k ? [...PATH(m, D.slice(0, k)), MTH(D.slice(k))] : [...PATH(m - k, D.slice(k)), MTH(D.slice(0, k))];
};
const SUBPROOF = (m: number, D: Buffer[], b: boolean): Buffer[] => {
  const n = D.length;
  if (m === n) return b ? [] : [MTH(D)];
  const k = largestPow2Below(n);
  return m <= k
    ? [...SUBPROOF(m, D.slice(0, k), b), MTH(D.slice(k))]
    : [...SUBPROOF(m - k, D.slice(k), false), MTH(D.slice(0, k))];
};
export const PROOF = (m: number, D: Buffer[]): Buffer[] => SUBPROOF(m, D, true);

