import { describe, expect, it } from "vitest";
import type { OutcomeStore } from "../../../services/eventlog/outcomes.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined): string | undefined =>
  value === undefined ? undefined : new TextDecoder().decode(value);

/** The OutcomeStore contract; `factory` returns a fresh, empty store per test. */
export function outcomeStoreContract(name: string, factory: () => Promise<OutcomeStore>): void {
  describe(`OutcomeStore contract: ${name}`, () => {
    it("get returns undefined for an unknown key", async () => {
      const store = await factory();
      expect(await store.get("nothing")).toBeUndefined();
    });

    it("create stores once: the first writer wins", async () => {
      const store = await factory();
      expect(await store.create("k", bytes("first"))).toBe(true);
      expect(await store.create("k", bytes("second"))).toBe(false);
      expect(text(await store.get("k"))).toBe("first");
    });

    it("racing creates: exactly one wins", async () => {
      const store = await factory();
      const results = await Promise.all([1, 2, 3, 4].map((i) => store.create("race", bytes(`v${i}`))));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true) + 1;
      expect(text(await store.get("race"))).toBe(`v${winner}`);
    });

    it("put replaces", async () => {
      const store = await factory();
      await store.put("k", bytes("a"));
      await store.put("k", bytes("b"));
      expect(text(await store.get("k"))).toBe("b");
      expect(await store.create("k", bytes("c"))).toBe(false);
    });

    it("takes any string as a key and keeps keys apart", async () => {
      const store = await factory();
      const keys = ["a.b", "a b", "*", ">", "", "ünï", "x".repeat(1_000), "A", "a"];
      for (const key of keys) expect(await store.create(key, bytes(`v:${key}`))).toBe(true);
      for (const key of keys) expect(text(await store.get(key))).toBe(`v:${key}`);
    });

    it("stores arbitrary bytes", async () => {
      const store = await factory();
      const value = Uint8Array.from({ length: 256 }, (_, i) => i);
      await store.put("bin", value);
      expect(Array.from((await store.get("bin")) ?? [])).toEqual(Array.from(value));
    });
  });
}
