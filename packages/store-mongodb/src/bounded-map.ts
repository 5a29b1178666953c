/**
 * Sets `key` in `map` as its most recently set entry (a `Map` iterates in insertion order),
 * dropping the oldest entries past `max`: a bounded cache, least recently set forgotten first.
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) map.delete(map.keys().next().value as K);
}
