import { setBounded } from "../domain/shared/bounded-map.js";

/** A token-bucket rate: `perSecond` refill, `burst` capacity; `perSecond` 0 turns the limit off. */
export interface Rate {
  readonly perSecond: number;
  readonly burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Per-key token buckets (the idea of services/commands/client-auth.ts, over every call instead of
 * failed ones). In process: N serving processes allow N × the rate. Least recently used keys are
 * dropped beyond `maxKeys`, so a flood of identities cannot grow memory without bound.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #maxKeys: number;
  /** The key at the end of the map's order (the most recently used). */
  #newest: string | undefined;

  constructor(maxKeys = 100_000) {
    this.#maxKeys = maxKeys;
  }

  /**
   * Takes `count` tokens from `key`'s bucket at `rate` (one per introspected token of a batch);
   * false, taking none, when fewer are left (the call is refused).
   */
  take(key: string, rate: Rate, now: number, count = 1): boolean {
    if (rate.perSecond <= 0) return true;
    const existing = this.#buckets.get(key);
    const bucket = existing ?? { tokens: rate.burst, at: now };
    if (existing !== undefined) {
      bucket.tokens = Math.min(rate.burst, bucket.tokens + (Math.max(0, now - bucket.at) * rate.perSecond) / 1000);
      bucket.at = now;
    }
    // The map's order is least recently used first: a key used again moves to the end, unless it is
    // the end already (one busy caller: no delete and re-insert per call).
    if (existing === undefined || key !== this.#newest) {
      if (existing !== undefined) this.#buckets.delete(key);
      setBounded(this.#buckets, key, bucket, this.#maxKeys);
      this.#newest = key;
    }
    if (bucket.tokens < count) return false;
    bucket.tokens -= count;
    return true;
  }
}
