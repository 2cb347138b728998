import type { ActiveToken } from "./read-model.js";
import { setBounded } from "../domain/shared/bounded-map.js";

/** Active answers remembered at most (~0.5 KB each). */
export const DEFAULT_MAX_ACTIVE_TOKENS = 20_000;

/**
 * The read model's active answers by keyed token hash (never a token), valid only for the applied
 * position they were read at: every lookup step first asks the read model where it is, and any
 * change — any event applied, a revocation or not — drops every answer. Within one position an
 * answer can only lapse by time, so each is checked against its `validUntil` (the earlier of the
 * token's and the grant's expiry) as the lookup's own `expires_at > now` would be.
 *
 * So a revoked token is never answered from here once the read model applied the revocation: the
 * position that applied it is not the position its active answer was read at. What it saves is the
 * 5-table point lookup (~13 µs) on repeat introspections of a token while nothing new is projected;
 * a log that takes writes all the time empties it all the time (it then costs a Map lookup).
 */
export class ActiveTokenCache {
  readonly #appliedSeq: () => number;
  readonly #max: number;
  readonly #entries = new Map<string, ActiveToken>();
  #seq = Number.NaN;

  /** `appliedSeq`: the read model's applied position, read in the same synchronous step as its lookups. */
  constructor(appliedSeq: () => number, max = DEFAULT_MAX_ACTIVE_TOKENS) {
    this.#appliedSeq = appliedSeq;
    this.#max = max;
  }

  /**
   * Starts a lookup step: forgets everything if the read model applied anything since the last.
   * `seq`: the position as the caller read it in this same synchronous step (read here if absent).
   */
  sync(seq = this.#appliedSeq()): void {
    if (seq !== this.#seq) {
      this.#entries.clear();
      this.#seq = seq;
    }
  }

  /** The remembered active answer for `hash`, if it is still within its expiry at `now`. */
  get(hash: string, now: number): ActiveToken | undefined {
    const found = this.#entries.get(hash);
    if (found === undefined) return undefined;
    if (now < found.validUntil) return found;
    this.#entries.delete(hash);
    return undefined;
  }

  /** Remembers an active answer read (after {@link sync}) from the read model; the oldest goes when full. */
  set(hash: string, token: ActiveToken): void {
    setBounded(this.#entries, hash, token, this.#max);
  }

  get size(): number {
    return this.#entries.size;
  }
}
