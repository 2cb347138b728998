import { describe, expect, it } from "vitest";
import { SequenceWaiters } from "../../../projections/runner/waiters.js";
import { tokensHandlers, type TokensHandlers } from "../../../projections/tokens/index.js";

describe("SequenceWaiters", () => {
  it("wakes exactly the waiters a commit satisfies, whatever the order they came in", async () => {
    const waiters = new SequenceWaiters();
    const settled = new Map<number, boolean>();
    const seqs = [9, 3, 7, 1, 5, 3, 8, 2, 6, 4];
    const all = seqs.map((seq) => waiters.wait(seq, 10_000).then((ok) => settled.set(seq, ok)));
    waiters.wake(4);
    await new Promise((resolve) => setImmediate(resolve));
    expect([...settled.keys()].sort()).toEqual([1, 2, 3, 4]);
    expect(waiters.size).toBe(5);
    waiters.wake(9);
    await Promise.all(all);
    expect([...settled.values()].every(Boolean)).toBe(true);
    expect(waiters.size).toBe(0);
  });

  it("times out false, and drops timed-out waiters", async () => {
    const waiters = new SequenceWaiters();
    expect(await waiters.wait(5, 10)).toBe(false);
    waiters.wake(0);
    expect(waiters.size).toBe(0);
  });

  it("cancels every waiter false", async () => {
    const waiters = new SequenceWaiters();
    const pending = [waiters.wait(1, 10_000), waiters.wait(2, 10_000)];
    waiters.cancelAll();
    expect(await Promise.all(pending)).toEqual([false, false]);
  });
});

describe("tokens handlers", () => {
  it("cover every event type (compile-time)", () => {
    const incomplete: Omit<TokensHandlers, "subject.revoked"> = tokensHandlers;
    // @ts-expect-error a projection that forgets an event type does not compile
    const check: TokensHandlers = incomplete;
    expect(check).toBe(tokensHandlers);
  });
});
