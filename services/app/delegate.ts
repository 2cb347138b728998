/**
 * An object that forwards every property read to whatever `current()` returns at the time of the
 * read: the serving code keeps one read model reference while a blue-green switch replaces the one
 * behind it between two calls. Methods are bound once per target (not per call) so the hot path
 * pays a map lookup, not a closure allocation.
 */
export function delegateTo<T extends object>(current: () => T): T {
  let cachedFor: T | undefined;
  let cache = new Map<PropertyKey, unknown>();
  return new Proxy({} as T, {
    get(_shell, key) {
      const target = current();
      if (target !== cachedFor) {
        cachedFor = target;
        cache = new Map();
      }
      if (cache.has(key)) return cache.get(key);
      const raw: unknown = Reflect.get(target, key, target);
      const value = typeof raw === "function" ? (raw as (...args: unknown[]) => unknown).bind(target) : raw;
      cache.set(key, value);
      return value;
    },
  });
}
