/**
 * Where a packed page ends (`EventStore.readPacked`): the longest run of the `count` records
 * whose payloads (`lengthAt(i)` bytes) add up to at most `maxBytes`, the first record always
 * included whatever its size. Returns how many records that is and their payload bytes.
 */
export function pageCut(
  count: number,
  lengthAt: (index: number) => number,
  maxBytes: number,
): { count: number; bytes: number } {
  let end = 0;
  let bytes = 0;
  for (; end < count; end++) {
    const length = lengthAt(end);
    if (end > 0 && bytes + length > maxBytes) break;
    bytes += length;
  }
  return { count: end, bytes };
}
