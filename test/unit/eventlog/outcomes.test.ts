import { describe, expect, it } from "vitest";
import { createMemoryOutcomeStore } from "../../../services/eventlog/outcomes.js";
import { outcomeStoreContract } from "../../int/eventlog/outcomes-contract.js";

outcomeStoreContract("memory", async () => createMemoryOutcomeStore());

describe("memory outcome store", () => {
  it("expires entries after ttlMs", async () => {
    let now = 0;
    const store = createMemoryOutcomeStore({ ttlMs: 1_000, now: () => now });
    await store.create("k", Uint8Array.of(1));
    now = 999;
    expect(await store.get("k")).toEqual(Uint8Array.of(1));
    now = 1_000;
    expect(await store.get("k")).toBeUndefined();
    expect(await store.create("k", Uint8Array.of(2))).toBe(true);
  });
});
