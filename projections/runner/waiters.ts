/**
 * Callers waiting for a sequence to be applied, woken on commit (no polling). A binary min-heap keyed
 * by the awaited sequence, so waking after a commit touches only the waiters it satisfies.
 */
interface Waiter {
  readonly seq: number;
  resolve(reached: boolean): void;
  settled: boolean;
}

export class SequenceWaiters {
  readonly #heap: Waiter[] = [];

  get size(): number {
    return this.#heap.length;
  }

  /**
   * Resolves true once {@link wake} is called with a sequence >= `seq`, false after `timeoutMs` or on
   * {@link cancelAll}.
   */
  wait(seq: number, timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        seq,
        settled: false,
        resolve(reached) {
          if (waiter.settled) return;
          waiter.settled = true;
          if (timer !== undefined) clearTimeout(timer);
          resolve(reached);
        },
      };
      this.#push(waiter);
      if (Number.isFinite(timeoutMs)) {
        // A timed-out waiter stays in the heap, settled, and is dropped when it reaches the top.
        timer = setTimeout(() => waiter.resolve(false), Math.max(0, timeoutMs));
        timer.unref?.();
      }
    });
  }

  /** Resolves every waiter whose sequence is <= `applied`. */
  wake(applied: number): void {
    const heap = this.#heap;
    while (heap.length > 0 && (heap[0] as Waiter).seq <= applied) {
      (this.#pop() as Waiter).resolve(true);
    }
    // Shed settled (timed-out) waiters at the top so a stalled projection does not accumulate them.
    while (heap.length > 0 && (heap[0] as Waiter).settled) this.#pop();
  }

  /** Resolves every waiter false (the runner stopped: their sequence will not be applied here). */
  cancelAll(): void {
    const all = this.#heap.splice(0);
    for (const waiter of all) waiter.resolve(false);
  }

  #push(waiter: Waiter): void {
    const heap = this.#heap;
    heap.push(waiter);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as Waiter).seq <= waiter.seq) break;
      heap[i] = heap[parent] as Waiter;
      i = parent;
    }
    heap[i] = waiter;
  }

  #pop(): Waiter | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && (heap[right] as Waiter).seq < (heap[left] as Waiter).seq ? right : left;
      if ((heap[child] as Waiter).seq >= last.seq) break;
      heap[i] = heap[child] as Waiter;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}
