/**
 * Sets `key` in `map` and, once the map holds more than `max` entries, drops the oldest: the first
 * in insertion order. A caller that deletes `key` before setting it gets least-recently-used order
 * (a replaced key otherwise keeps its place). Every in-memory cache and limiter of the service is
 * bounded this way, so no caller can grow one without limit.
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.set(key, value);
  if (map.size > max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}
