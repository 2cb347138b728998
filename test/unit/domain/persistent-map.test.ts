import { describe, expect, it } from "vitest";
import { PersistentMap } from "../../../services/domain/shared/persistent-map.js";

/** A small deterministic PRNG, so a failure names its seed and replays. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe("PersistentMap", () => {
  it("behaves as a Map under random sets, and every earlier version stays as it was", () => {
    for (const seed of [1, 2, 3]) {
      const next = random(seed);
      let map = PersistentMap.empty<number>();
      const model = new Map<string, number>();
      const versions: Array<{ map: PersistentMap<number>; entries: Array<[string, number]> }> = [];
      for (let i = 0; i < 3000; i++) {
        // Few enough keys that many sets replace a key already there.
        const key = `k${Math.floor(next() * 1500)}`;
        map = map.set(key, i);
        model.set(key, i);
        if (i % 250 === 0) versions.push({ map, entries: [...model] });
      }
      expect(map.size).toBe(model.size);
      expect([...map]).toEqual([...model]); // same entries, in Map's insertion order
      for (const [key, value] of model) expect(map.get(key)).toBe(value);
      expect(map.has("absent")).toBe(false);
      expect(map.get("absent")).toBeUndefined();
      for (const version of versions) expect([...version.map]).toEqual(version.entries);
    }
  });

  it("keeps keys whose 32-bit hashes collide apart", () => {
    // FNV-1a collisions: found by search, so the collision path is exercised, not assumed.
    const byHash = new Map<number, string>();
    const pair: string[] = [];
    const fnv = (key: string): number => {
      let hash = 0x811c9dc5;
      for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
      return hash >>> 0;
    };
    for (let i = 0; pair.length === 0; i++) {
      const key = `c${i}`;
      const other = byHash.get(fnv(key));
      if (other !== undefined) pair.push(other, key);
      byHash.set(fnv(key), key);
    }
    const [a, b] = pair as [string, string];
    const map = PersistentMap.of<number>([["x", 0], [a, 1], [b, 2]]).set(a, 3);
    expect(map.size).toBe(3);
    expect(map.get(a)).toBe(3);
    expect(map.get(b)).toBe(2);
    expect([...map.keys()]).toEqual(["x", a, b]);
  });

  it("shows itself as a plain object in JSON, in insertion order", () => {
    const map = PersistentMap.of([["b", 1], ["a", 2]]);
    expect(JSON.stringify({ map })).toBe('{"map":{"b":1,"a":2}}');
    expect(new Map(map)).toEqual(new Map([["b", 1], ["a", 2]]));
  });
});
