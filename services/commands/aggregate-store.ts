import type { Decider } from "../domain/shared/decider.js";
import type { LedgerEvent } from "../domain/events.js";
import type { AggregateRef, EventLog, RecordedEnvelope } from "../eventlog/types.js";
import { setBounded } from "../domain/shared/bounded-map.js";

/** An aggregate's state as of its last subject sequence (`version`), with that message's hash. */
export interface Loaded<S> {
  readonly state: S;
  readonly version: number;
  readonly lastHash: string | null;
  /** Stream sequence of the aggregate's first message (its creation); 0 when it has none. */
  readonly firstVersion: number;
}

const keyOf = (ref: AggregateRef): string => `${ref.kind}\u0000${ref.id}`;

/**
 * Loads aggregates by folding their messages, and caches the result so a hot aggregate is read
 * incrementally. The cache is only an optimization: appends check `version` with optimistic
 * concurrency, and a conflict drops the entry.
 */
export class AggregateStore {
  readonly #cache = new Map<string, Loaded<unknown>>();

  constructor(
    private readonly log: EventLog,
    private readonly maxEntries = 50_000,
  ) {}

  /** The cached state, without asking the log whether it is still the latest. */
  cached<S>(ref: AggregateRef): Loaded<S> | undefined {
    return this.#cache.get(keyOf(ref)) as Loaded<S> | undefined;
  }

  /** The latest state: the cached one brought up to date with what the log holds after it. */
  async load<C, E extends LedgerEvent, S>(ref: AggregateRef, decider: Decider<C, E, S>): Promise<Loaded<S>> {
    const cached = this.cached<S>(ref);
    const base: Loaded<S> = cached ?? { state: decider.initialState, version: 0, lastHash: null, firstVersion: 0 };
    const envelopes = await this.log.readAggregate(ref, base.version);
    if (envelopes.length === 0) return base;
    const loaded = foldEnvelopes(decider, base, envelopes);
    this.remember(ref, loaded);
    return loaded;
  }

  remember<S>(ref: AggregateRef, loaded: Loaded<S>): void {
    const key = keyOf(ref);
    this.#cache.delete(key);
    setBounded(this.#cache, key, loaded, this.maxEntries);
  }

  forget(ref: AggregateRef): void {
    this.#cache.delete(keyOf(ref));
  }
}

/** Folds recorded messages of one aggregate into `base`; the same fold serves audits of past states. */
export function foldEnvelopes<C, E extends LedgerEvent, S>(
  decider: Decider<C, E, S>,
  base: Loaded<S>,
  envelopes: readonly RecordedEnvelope[],
): Loaded<S> {
  let { state, version, lastHash, firstVersion } = base;
  for (const envelope of envelopes) {
    if (firstVersion === 0) firstVersion = envelope.seq;
    for (const event of envelope.events) state = decider.evolve(state, event as E);
    version = envelope.seq;
    lastHash = envelope.hash;
  }
  return { state, version, lastHash, firstVersion };
}
