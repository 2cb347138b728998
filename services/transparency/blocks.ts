import { HASH_SIZE, MerkleTree, nodeHash, splitPoint } from "./merkle.js";

/**
 * A checkpoint's block hashes: the Merkle hashes of the aligned blocks of `size` leaves that hold the
 * leaves it newly covers, from leaf `from` to its tree size (the last block may be partial).
 *
 * They are outside the signed note, but a verifier authenticates them against it: together with the
 * leaves an earlier checkpoint already vouched for, they must rebuild the signed root. Then, when a
 * root does not match, they tell which blocks changed, and a swap of two messages across aggregates
 * (which no hash chain sees) can be found by trying the swaps within those blocks.
 */
export interface BlockHashes {
  readonly from: number;
  readonly size: number;
  /** Standard base64 of the 32-byte hashes, in order. */
  readonly hashes: string;
}

/** Small blocks keep the search cheap; at most this many per checkpoint keep the message small (≤ 22 KB). */
const MIN_BLOCK = 16;
const MAX_BLOCKS = 512;
/** A swap is searched for only in blocks this small: two such blocks are 65k candidate swaps. */
const MAX_SEARCH_BLOCK = 256;

const blockCount = (from: number, size: number, block: number): number => Math.ceil((size - from) / block);

/** The block hashes of a checkpoint of `size` leaves whose predecessor covered `covered` (0: none). */
export function blockHashes(tree: MerkleTree, covered: number, size: number): BlockHashes | undefined {
  if (size <= covered) return undefined;
  let block = MIN_BLOCK;
  while (blockCount(covered - (covered % block), size, block) > MAX_BLOCKS) block *= 2;
  const from = covered - (covered % block);
  const parts: Buffer[] = [];
  for (let start = from; start < size; start += block) parts.push(tree.rangeHash(start, Math.min(block, size - start)));
  return { from, size: block, hashes: Buffer.concat(parts).toString("base64") };
}

/** Where a checkpoint's covered leaves differ from the log as read, as far as its block hashes tell. */
export type Located =
  /** The block hashes are missing, malformed, or do not rebuild the signed root: nothing to go by. */
  | { readonly kind: "unknown" }
  /** Leaves `a` < `b` (0-based) are in each other's place: swapped back, the signed root comes out. */
  | { readonly kind: "swapped"; readonly a: number; readonly b: number }
  /** Leaves `first`..`last` (0-based, inclusive): the first block that differs. */
  | { readonly kind: "changed"; readonly first: number; readonly last: number };

/**
 * Compares the log's tree with a checkpoint's block hashes, for a checkpoint of `size` leaves whose
 * root `signedRoot` did not match and whose predecessor vouched for the first `covered` leaves.
 */
export function locateChange(tree: MerkleTree, hints: BlockHashes, covered: number, size: number, signedRoot: Uint8Array): Located {
  const hashes = decode(hints, covered, size);
  if (hashes === undefined) return { kind: "unknown" };
  const { from, size: block } = hints;
  const blockOf = (i: number) => ({ start: from + i * block, len: Math.min(block, size - from - i * block) });
  if (!rebuild(tree, from, block, size, hashes).equals(signedRoot)) return { kind: "unknown" };
  const differing = hashes
    .map((hash, i) => ({ i, hash }))
    .filter(({ i, hash }) => {
      const { start, len } = blockOf(i);
      return !tree.rangeHash(start, len).equals(hash);
    });
  const first = differing[0];
  if (first === undefined) return { kind: "unknown" };
  const firstBlock = blockOf(first.i);
  const changed: Located = { kind: "changed", first: Math.max(firstBlock.start, covered), last: firstBlock.start + firstBlock.len - 1 };
  if (differing.length > 2 || block > MAX_SEARCH_BLOCK) return changed;
  const blocks = differing.map(({ i, hash }) => ({ ...blockOf(i), hash }));
  const other = blocks[1] ?? firstBlock;
  for (let a = changed.first; a <= changed.last; a++) {
    for (let b = Math.max(a + 1, other.start, covered); b < other.start + other.len; b++) {
      const swapped = new Map([
        [a, tree.leaf(b)],
        [b, tree.leaf(a)],
      ]);
      if (blocks.every(({ start, len, hash }) => tree.rangeHashWith(start, len, swapped).equals(hash))) return { kind: "swapped", a, b };
    }
  }
  return changed;
}

/** The hashes, when the hint is well formed and covers exactly what it should. */
function decode(hints: BlockHashes, covered: number, size: number): Buffer[] | undefined {
  const { from, size: block } = hints;
  const powerOfTwo = Number.isSafeInteger(block) && block >= 1 && (block & (block - 1)) === 0;
  if (!powerOfTwo || !Number.isSafeInteger(from) || from < 0 || from % block !== 0 || from > covered || from >= size) return undefined;
  const raw = Buffer.from(hints.hashes, "base64");
  if (raw.length !== blockCount(from, size, block) * HASH_SIZE) return undefined;
  return Array.from({ length: raw.length / HASH_SIZE }, (_, i) => raw.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
}

/**
 * The root of `size` leaves from the log's own leaves before `from` (vouched for by the previous
 * checkpoint) and the block hashes after it; RFC 9162's splits fall on block boundaries there.
 */
function rebuild(tree: MerkleTree, from: number, block: number, size: number, hashes: readonly Buffer[]): Buffer {
  const walk = (start: number, len: number): Buffer => {
    if (start + len <= from) return tree.rangeHash(start, len);
    if (start >= from && (start - from) % block === 0 && (len === block || (len < block && start + len === size))) {
      return hashes[(start - from) / block] as Buffer;
    }
    if (len <= block && start >= from) throw new RangeError(`leaves [${start}, ${start + len}) do not fall on blocks of ${block}`);
    const k = splitPoint(len);
    return nodeHash(walk(start, k), walk(start + k, len - k));
  };
  return walk(0, size);
}
