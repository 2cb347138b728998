import { PersistentMap } from "../../services/domain/shared/persistent-map.js";

/**
 * A deep copy of a state as plain data, to compare before and after: what `structuredClone` gave
 * before states held {@link PersistentMap}s, whose entries it cannot see (private fields). Maps of
 * either kind become `{ map: entries }`, Sets `{ set: values }`, in iteration order.
 */
export function snapshotOf(value: unknown): unknown {
  if (value instanceof PersistentMap || value instanceof Map) {
    return { map: [...(value as ReadonlyMap<unknown, unknown>)].map(([k, v]) => [snapshotOf(k), snapshotOf(v)]) };
  }
  if (value instanceof Set) return { set: [...(value as Set<unknown>)].map(snapshotOf) };
  if (Array.isArray(value)) return value.map(snapshotOf);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, snapshotOf(v)]));
  }
  return value;
}
