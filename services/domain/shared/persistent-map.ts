/**
 * An immutable map with structural sharing (a hash array mapped trie, 32-way): `set` copies one
 * path of at most seven small nodes and shares the rest, so folding n insertions costs
 * O(n log₃₂ n) instead of the O(n²) of copying a `Map` per event. A grant keeps every token issued
 * under it (the client-credentials grant of a busy client holds hundreds of thousands), and
 * `evolve` must never mutate the state it is given (audit keeps past states around), so this is
 * what keeps issuing under a big grant as cheap as under a small one.
 *
 * Iterates in insertion order, as `Map` does (a replaced key keeps its place): audit shows states
 * as JSON, and the order must not depend on hashing. Iteration sorts, so it costs O(n log n);
 * lookups and updates are what the write path uses.
 */
export class PersistentMap<V> implements ReadonlyMap<string, V> {
  static readonly #EMPTY = new PersistentMap<never>(undefined, 0, 0);

  /** The empty map (one shared instance). */
  static empty<V>(): PersistentMap<V> {
    return PersistentMap.#EMPTY;
  }

  /** A map of `entries`, in their order. */
  static of<V>(entries: Iterable<readonly [string, V]>): PersistentMap<V> {
    let map = PersistentMap.empty<V>();
    for (const [key, value] of entries) map = map.set(key, value);
    return map;
  }

  readonly #root: Node<V> | undefined;
  /** Insertion counter: the order of the next new key. */
  readonly #next: number;
  readonly size: number;

  private constructor(root: Node<V> | undefined, size: number, next: number) {
    this.#root = root;
    this.size = size;
    this.#next = next;
  }

  get(key: string): V | undefined {
    return find(this.#root, hashOf(key), key)?.value;
  }

  has(key: string): boolean {
    return find(this.#root, hashOf(key), key) !== undefined;
  }

  /** A new map with `key` set to `value`; this one is left as it was. */
  set(key: string, value: V): PersistentMap<V> {
    const change = { added: false };
    const root = insert(this.#root, 0, { hash: hashOf(key), key, value, order: this.#next }, change);
    return new PersistentMap(root, change.added ? this.size + 1 : this.size, change.added ? this.#next + 1 : this.#next);
  }

  *entries(): MapIterator<[string, V]> {
    for (const leaf of ordered(this.#root)) yield [leaf.key, leaf.value];
  }

  *keys(): MapIterator<string> {
    for (const leaf of ordered(this.#root)) yield leaf.key;
  }

  *values(): MapIterator<V> {
    for (const leaf of ordered(this.#root)) yield leaf.value;
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const leaf of ordered(this.#root)) callback.call(thisArg, leaf.value, leaf.key, this);
  }

  /** As a plain object, the way audit shows states (JSON.stringify calls this). */
  toJSON(): { [key: string]: V } {
    return Object.fromEntries(this.entries());
  }

  get [Symbol.toStringTag](): string {
    return "PersistentMap";
  }
}

interface Leaf<V> {
  readonly hash: number;
  readonly key: string;
  readonly value: V;
  readonly order: number;
}
/** Keys whose 32-bit hashes are equal. */
interface Collision<V> {
  readonly hash: number;
  readonly leaves: readonly Leaf<V>[];
}
interface Branch<V> {
  /** Bit i set: the child for hash digit i is present, at index popcount(bitmap below i). */
  readonly bitmap: number;
  readonly children: readonly Node<V>[];
}
type Node<V> = Leaf<V> | Collision<V> | Branch<V>;

const BITS = 5;
const MASK = 31;

const isLeaf = <V>(node: Node<V>): node is Leaf<V> => "key" in node;
const isCollision = <V>(node: Node<V>): node is Collision<V> => "leaves" in node;

/** FNV-1a over the UTF-16 code units: keys here are random ids, so a simple hash spreads them well. */
function hashOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

function popcount(n: number): number {
  let x = n - ((n >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

function find<V>(root: Node<V> | undefined, hash: number, key: string): Leaf<V> | undefined {
  let node = root;
  for (let shift = 0; node !== undefined; shift += BITS) {
    if (isLeaf(node)) return node.key === key ? node : undefined;
    if (isCollision(node)) return node.leaves.find((l) => l.key === key);
    const bit = 1 << ((hash >>> shift) & MASK);
    if ((node.bitmap & bit) === 0) return undefined;
    node = node.children[popcount(node.bitmap & (bit - 1))];
  }
  return undefined;
}

function insert<V>(node: Node<V> | undefined, shift: number, leaf: Leaf<V>, change: { added: boolean }): Node<V> {
  if (node === undefined) {
    change.added = true;
    return leaf;
  }
  if (isLeaf(node)) {
    // A replaced key keeps its insertion order, as Map.set does.
    if (node.key === leaf.key) return { ...leaf, order: node.order };
    change.added = true;
    return node.hash === leaf.hash ? { hash: leaf.hash, leaves: [node, leaf] } : split(node, leaf, shift);
  }
  if (isCollision(node)) {
    if (node.hash !== leaf.hash) {
      change.added = true;
      return split(node, leaf, shift);
    }
    const at = node.leaves.findIndex((l) => l.key === leaf.key);
    if (at === -1) {
      change.added = true;
      return { hash: node.hash, leaves: [...node.leaves, leaf] };
    }
    const leaves = node.leaves.slice();
    leaves[at] = { ...leaf, order: (node.leaves[at] as Leaf<V>).order };
    return { hash: node.hash, leaves };
  }
  const bit = 1 << ((leaf.hash >>> shift) & MASK);
  const index = popcount(node.bitmap & (bit - 1));
  const children = node.children.slice();
  if ((node.bitmap & bit) === 0) {
    change.added = true;
    children.splice(index, 0, leaf);
    return { bitmap: node.bitmap | bit, children };
  }
  children[index] = insert(node.children[index], shift + BITS, leaf, change);
  return { bitmap: node.bitmap, children };
}

/** A branch holding `a` and `b`, whose hashes differ (so they part at some digit by shift 30). */
function split<V>(a: Leaf<V> | Collision<V>, b: Leaf<V>, shift: number): Branch<V> {
  const da = (a.hash >>> shift) & MASK;
  const db = (b.hash >>> shift) & MASK;
  if (da === db) return { bitmap: 1 << da, children: [split(a, b, shift + BITS)] };
  return { bitmap: (1 << da) | (1 << db), children: da < db ? [a, b] : [b, a] };
}

function ordered<V>(root: Node<V> | undefined): Leaf<V>[] {
  const out: Leaf<V>[] = [];
  const walk = (node: Node<V>): void => {
    if (isLeaf(node)) out.push(node);
    else if (isCollision(node)) out.push(...node.leaves);
    else for (const child of node.children) walk(child);
  };
  if (root !== undefined) walk(root);
  return out.sort((x, y) => x.order - y.order);
}
