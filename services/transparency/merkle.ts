import { createHash } from "node:crypto";

/**
 * RFC 9162 §2.1 Merkle tree hashing over the messages of the stream: leaf i is message sequence
 * i + 1, leaf hash = SHA-256(0x00 ‖ body bytes as stored), node hash = SHA-256(0x01 ‖ left ‖ right),
 * and the root of an empty tree is SHA-256 of the empty string.
 */
export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

export const leafHash = (data: Uint8Array): Buffer => createHash("sha256").update(LEAF_PREFIX).update(data).digest();

export const nodeHash = (left: Uint8Array, right: Uint8Array): Buffer =>
  createHash("sha256").update(NODE_PREFIX).update(left).update(right).digest();

export const EMPTY_ROOT: Buffer = createHash("sha256").digest();

/** Largest power of two strictly less than `n` (n ≥ 2): the RFC's split point `k`. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** log2(n) when n is a power of two, else -1; exact for every safe integer. */
function exactLog2(n: number): number {
  let k = 0;
  for (let p = 1; p <= n; p *= 2, k++) if (p === n) return k;
  return -1;
}

const isPowerOfTwo = (n: number): boolean => exactLog2(n) >= 0;

/** A growable array of 32-byte hashes in one buffer (no object per hash: 1M leaves = 32 MiB). */
export class HashArray {
  private buf = Buffer.alloc(HASH_SIZE * 1024);
  length = 0;

  push(hash: Uint8Array): void {
    if ((this.length + 1) * HASH_SIZE > this.buf.length) {
      const bigger = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(bigger);
      this.buf = bigger;
    }
    this.buf.set(hash, this.length * HASH_SIZE);
    this.length++;
  }

  /** A view (not a copy) of hash `i`. */
  at(i: number): Buffer {
    if (i < 0 || i >= this.length) throw new RangeError(`hash ${i} of ${this.length}`);
    return this.buf.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  }
}

/**
 * An append-only Merkle tree that keeps every complete, aligned subtree hash: level k holds the
 * hashes of leaves [i·2^k, (i+1)·2^k). Memory is about 2 × 32 bytes per leaf (64 MiB for 1M); any
 * subtree hash the RFC 9162 algorithms ask for is assembled from O(log n) stored nodes, so a root,
 * an inclusion proof or a consistency proof for any size ≤ {@link size} costs O(log² n) hashing at
 * worst, whatever the size.
 *
 * Kept in memory and rebuilt from the log on start (reading the raw stream once): the log is the
 * only source of truth, so there is no second file to keep consistent with it.
 */
export class MerkleTree {
  private readonly levels: HashArray[] = [new HashArray()];

  get size(): number {
    return (this.levels[0] as HashArray).length;
  }

  /** Appends one leaf hash (see {@link leafHash}). */
  append(leaf: Uint8Array): void {
    if (leaf.length !== HASH_SIZE) throw new RangeError(`a leaf hash has ${HASH_SIZE} bytes, not ${leaf.length}`);
    (this.levels[0] as HashArray).push(leaf);
    // Every time a level gets an even count, its last two nodes form a complete parent.
    for (let k = 0; ; k++) {
      const level = this.levels[k] as HashArray;
      if (level.length % 2 !== 0) break;
      const parent = nodeHash(level.at(level.length - 2), level.at(level.length - 1));
      let up = this.levels[k + 1];
      if (up === undefined) {
        up = new HashArray();
        this.levels.push(up);
      }
      up.push(parent);
    }
  }

  appendData(data: Uint8Array): void {
    this.append(leafHash(data));
  }

  /** Leaf hash at `index` (a copy). */
  leaf(index: number): Buffer {
    return Buffer.from((this.levels[0] as HashArray).at(index));
  }

  /** MTH(D[0:n]), the root of the tree of the first `n` leaves. */
  root(n: number = this.size): Buffer {
    this.checkSize(n);
    return n === 0 ? Buffer.from(EMPTY_ROOT) : Buffer.from(this.subtree(0, n));
  }

  /** RFC 9162 §2.1.3.1 PATH(index, D[0:n]): sibling hashes from the leaf up. */
  inclusionProof(index: number, n: number = this.size): Buffer[] {
    this.checkSize(n);
    if (!Number.isInteger(index) || index < 0 || index >= n) throw new RangeError(`leaf ${index} is not in a tree of ${n}`);
    const path: Buffer[] = [];
    const walk = (start: number, len: number, m: number): void => {
      if (len === 1) return;
      const k = splitPoint(len);
      if (m < k) {
        walk(start, k, m);
        path.push(this.subtree(start + k, len - k));
      } else {
        walk(start + k, len - k, m - k);
        path.push(this.subtree(start, k));
      }
    };
    walk(0, n, index);
    return path.map((h) => Buffer.from(h));
  }

  /** RFC 9162 §2.1.4.1 PROOF(m, D[0:n]); empty for m = 0 or m = n. */
  consistencyProof(m: number, n: number = this.size): Buffer[] {
    this.checkSize(n);
    if (!Number.isInteger(m) || m < 0 || m > n) throw new RangeError(`a tree of ${m} cannot precede one of ${n}`);
    if (m === 0 || m === n) return [];
    const proof: Buffer[] = [];
    const sub = (start: number, len: number, mm: number, complete: boolean): void => {
      if (mm === len) {
        if (!complete) proof.push(this.subtree(start, len));
        return;
      }
      const k = splitPoint(len);
      if (mm <= k) {
        sub(start, k, mm, complete);
        proof.push(this.subtree(start + k, len - k));
      } else {
        sub(start + k, len - k, mm - k, false);
        proof.push(this.subtree(start, k));
      }
    };
    sub(0, n, m, true);
    return proof.map((h) => Buffer.from(h));
  }

  /** MTH(D[start:start+len]) of an aligned range (`start` a multiple of the largest power of two ≤ len). */
  rangeHash(start: number, len: number): Buffer {
    this.checkSize(start + len);
    return Buffer.from(this.subtree(start, len));
  }

  /**
   * {@link rangeHash} had the leaves in `overrides` been the given hashes instead: what the range
   * would hash to with, say, two leaves swapped back. Untouched subranges are stored nodes, so a
   * couple of overrides cost O(log² len) hashing.
   */
  rangeHashWith(start: number, len: number, overrides: ReadonlyMap<number, Uint8Array>): Buffer {
    this.checkSize(start + len);
    const walk = (s: number, n: number): Buffer => {
      let touched: Uint8Array | undefined;
      for (const [i, leaf] of overrides) if (i >= s && i < s + n) touched = leaf;
      if (touched === undefined) return this.subtree(s, n);
      if (n === 1) return Buffer.from(touched);
      const k = splitPoint(n);
      return nodeHash(walk(s, k), walk(s + k, n - k));
    };
    return walk(start, len);
  }

  /**
   * MTH(D[start:start+len]) for the ranges the RFC recursion produces: `start` is a multiple of the
   * largest power of two ≤ len, so power-of-two ranges are stored nodes and others split once more.
   */
  private subtree(start: number, len: number): Buffer {
    const k = exactLog2(len);
    if (k >= 0) {
      const level = this.levels[k];
      if (level === undefined || start % len !== 0) throw new Error(`no stored node for leaves [${start}, ${start + len})`);
      return level.at(start / len);
    }
    const split = splitPoint(len);
    return nodeHash(this.subtree(start, split), this.subtree(start + split, len - split));
  }

  private checkSize(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.size) throw new RangeError(`tree size ${n} is beyond the ${this.size} leaves known`);
  }
}

const isOdd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);

/**
 * RFC 9162 §2.1.3.2: true when `proof` shows the leaf hash at `index` is in the tree of `size`
 * leaves with root `root`. Works on plain arithmetic (sizes up to 2^53), not 32-bit bit operations.
 */
export function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && r.equals(root);
}

/**
 * RFC 9162 §2.1.4.2: true when `proof` shows the tree of `oldSize` leaves (root `oldRoot`) is a
 * prefix of the tree of `newSize` leaves (root `newRoot`). The empty tree precedes every tree; equal
 * sizes need an empty proof and equal roots.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  proof: readonly Uint8Array[],
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
): boolean {
  if (!Number.isInteger(oldSize) || !Number.isInteger(newSize) || oldSize < 0 || oldSize > newSize) return false;
  if (oldSize === 0) return proof.length === 0;
  if (oldSize === newSize) return proof.length === 0 && Buffer.from(oldRoot).equals(newRoot);
  if (proof.length === 0) return false;
  const path: Uint8Array[] = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof];
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = fr;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && fr.equals(oldRoot) && sr.equals(newRoot);
}
