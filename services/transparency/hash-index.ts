import { HASH_SIZE } from "./merkle.js";

/** Starting slot of a hash: its first four bytes (the hash is uniform, so they spread well). */
const slotOf = (hash: Uint8Array): number => ((hash[0] as number) | ((hash[1] as number) << 8) | ((hash[2] as number) << 16) | ((hash[3] as number) << 24)) >>> 0;

/**
 * Where each 32-byte hash was seen, without an object per entry: an open-addressing table of
 * positions (1-based; 0 is an empty slot) whose hashes live in the caller's store, which
 * `hashAt(position)` reads. At most half full: ~16 bytes per entry, against ~120 for a Map keyed by
 * the hash in hex, which made `audit verify` hold ~440 bytes per message of the log.
 */
export class HashIndex {
  private slots = new Float64Array(1024);
  private count = 0;

  constructor(private readonly hashAt: (position: number) => Uint8Array) {}

  /** The position recorded for `hash`, or undefined. */
  get(hash: Uint8Array): number | undefined {
    if (hash.length !== HASH_SIZE) return undefined;
    const mask = this.slots.length - 1;
    for (let i = slotOf(hash) & mask; ; i = (i + 1) & mask) {
      const position = this.slots[i] as number;
      if (position === 0) return undefined;
      if (Buffer.compare(this.hashAt(position), hash) === 0) return position;
    }
  }

  /** Records `position` (≥ 1) for `hash`, which the index must not hold yet. */
  add(hash: Uint8Array, position: number): void {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    this.place(hash, position);
    this.count++;
  }

  private place(hash: Uint8Array, position: number): void {
    const mask = this.slots.length - 1;
    let i = slotOf(hash) & mask;
    while (this.slots[i] !== 0) i = (i + 1) & mask;
    this.slots[i] = position;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Float64Array(old.length * 2);
    for (const position of old) if (position !== 0) this.place(this.hashAt(position), position);
  }
}
