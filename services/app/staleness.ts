/** Options of {@link StalenessGuard}. */
export interface StalenessGuardOptions {
  /** The log's head (last stream sequence); rejects or hangs while the log is unreachable. */
  readonly headSequence: () => Promise<number>;
  /** What the read model has applied (in this process, or read from the projector's file). */
  readonly appliedSeq: () => number;
  /** Fresh = the last confirmation happened at most this long ago (ms). */
  readonly maxStalenessMs: number;
  /** How often the head is read (ms). */
  readonly intervalMs: number;
  /** Called when freshness flips (for gRPC health / readiness). */
  readonly onChange?: (fresh: boolean) => void;
  readonly now?: () => number;
}

/**
 * Fail closed on a stale read model (DESIGN.md "Consistency"). Every `intervalMs` the guard reads
 * the log's head; a head read at time t is *confirmed* once the read model has applied it, and the
 * read model is fresh while the latest confirmed t is within `maxStalenessMs`. A lost NATS
 * connection (no head can be read) or a stuck projector (the head read is never applied) both let
 * the last confirmation age past the bound; the next confirmation makes it fresh again, with no
 * restart.
 *
 * A head read under load is usually ahead of the read model by a few messages: it stays pending and
 * is confirmed (at the time it was read, never later) when the projection reaches it.
 */
export class StalenessGuard {
  readonly #options: StalenessGuardOptions;
  readonly #now: () => number;
  /** Head reads not yet applied, oldest first: [read at, head]. */
  #pending: Array<readonly [number, number]> = [];
  #confirmedAt = Number.NEGATIVE_INFINITY;
  #lastHead = 0;
  #fresh = false;
  #inFlight = false;
  #timer: NodeJS.Timeout | undefined;
  #waiters = new Set<() => void>();

  constructor(options: StalenessGuardOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The bound this guard enforces, ms. */
  get maxStalenessMs(): number {
    return this.#options.maxStalenessMs;
  }

  /** When the read model was last confirmed within the log's head (epoch ms; -Infinity: never). */
  get confirmedAt(): number {
    return this.#confirmedAt;
  }

  /** The head as last read from the log. */
  get lastHead(): number {
    return this.#lastHead;
  }

  /** How old the last confirmation is, ms (Infinity before the first). */
  stalenessMs(): number {
    return this.#now() - this.#confirmedAt;
  }

  /** True while the last confirmation is within the bound. */
  isFresh(): boolean {
    this.#update();
    return this.#fresh;
  }

  /** Starts checking; the first check runs now. */
  start(): this {
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => void this.check(), this.#options.intervalMs);
      this.#timer.unref();
      void this.check();
    }
    return this;
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  /**
   * True when fresh now, or once a confirmation makes it fresh within `timeoutMs`; false otherwise.
   * Lets a request that arrives right after start-up (or a blip) wait for the next check instead of
   * failing at once.
   */
  async waitFresh(timeoutMs: number): Promise<boolean> {
    if (this.isFresh()) return true;
    if (timeoutMs <= 0 || this.#timer === undefined) return false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#waiters.add(done);
      void this.check();
    });
    return this.isFresh();
  }

  /** Reads the head once (no overlap with a check in flight) and confirms what has been applied. */
  async check(): Promise<void> {
    this.#confirmPending();
    if (this.#inFlight) return;
    this.#inFlight = true;
    const readAt = this.#now();
    try {
      // A head read that takes longer than the bound is useless; a hung request must not block the
      // next checks either.
      const head = await withTimeout(this.#options.headSequence(), Math.max(this.#options.intervalMs, this.#options.maxStalenessMs));
      this.#lastHead = head;
      this.#pending.push([readAt, head]);
      // Keep the list bounded: older reads are superseded by newer ones once those are confirmed.
      if (this.#pending.length > 64) this.#pending.splice(0, this.#pending.length - 64);
      this.#confirmPending();
    } catch {
      // The log is unreachable: nothing is confirmed; staleness grows until it is back.
    } finally {
      this.#inFlight = false;
      this.#update();
    }
  }

  /** Confirms every pending head read the read model has applied; called often (cheap). */
  #confirmPending(): void {
    // Nothing pending: no need to ask the read model (a SQLite read for a reader of another process's file).
    if (this.#pending.length === 0) return;
    const applied = this.#options.appliedSeq();
    let confirmed = -1;
    for (let i = 0; i < this.#pending.length; i++) {
      if ((this.#pending[i] as readonly [number, number])[1] <= applied) confirmed = i;
    }
    if (confirmed >= 0) {
      this.#confirmedAt = Math.max(this.#confirmedAt, (this.#pending[confirmed] as readonly [number, number])[0]);
      this.#pending.splice(0, confirmed + 1);
    }
  }

  #update(): void {
    this.#confirmPending();
    const fresh = this.#now() - this.#confirmedAt <= this.#options.maxStalenessMs;
    if (fresh === this.#fresh) return;
    this.#fresh = fresh;
    this.#options.onChange?.(fresh);
    if (fresh) {
      for (const wake of this.#waiters) wake();
      this.#waiters.clear();
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
