import { describe, expect, it } from "vitest";
import { setBounded } from "../../../services/domain/shared/bounded-map.js";

describe("setBounded: a Map that never holds more than its bound", () => {
  it("given a full map, when a new key is set, then the oldest key goes", () => {
    const map = new Map([["a", 1], ["b", 2]]);
    setBounded(map, "c", 3, 2);
    expect([...map.keys()]).toEqual(["b", "c"]);
  });

  it("given a full map, when an existing key is replaced, then nothing goes and it keeps its place", () => {
    const map = new Map([["a", 1], ["b", 2]]);
    setBounded(map, "a", 9, 2);
    expect([...map]).toEqual([["a", 9], ["b", 2]]);
  });

  it("given a key deleted first (least recently used order), when set again, then it moves to the end", () => {
    const map = new Map([["a", 1], ["b", 2]]);
    map.delete("a");
    setBounded(map, "a", 1, 2);
    setBounded(map, "c", 3, 2);
    expect([...map.keys()]).toEqual(["a", "c"]);
  });
});
