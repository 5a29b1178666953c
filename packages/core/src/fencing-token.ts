/**
 * The fencing token of a new claim of a key (DedupStore contract, "Fencing"): larger than the
 * key's previous token (`previous`, absent when the key has no entry) and at least the store
 * clock's `nowMs`. Reading the clock makes a key that starts again after its entry was dropped
 * still get a token larger than every earlier one: the entry was dropped only after its lease
 * ended, so the stalled holder's token is behind the clock (see the contract for the bound).
 * A positive safe integer: a clock before 1970 gives 1 for a fresh key.
 */
export function nextFencingToken(previous: number | undefined, nowMs: number): number {
  const fromClock = Math.max(1, Math.floor(nowMs));
  return previous === undefined ? fromClock : Math.max(previous + 1, fromClock);
}
