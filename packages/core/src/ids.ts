import { nanoid } from "nanoid";

/**
 * A new unguessable id (21 URL-safe characters, 126 bits of randomness, from `nanoid`), used
 * for event ids, message idempotency keys, epochs and claim tokens.
 */
export function newId(): string {
  // `nanoid` appends one character at a time, which V8 keeps as a chain of ten string nodes
  // (about 330 bytes per id while it is held); `normalize` returns the same characters (URL-safe
  // ASCII) as one flat string of about 50 bytes. The memory store holds one per retained event.
  return nanoid().normalize();
}

/** Width of `newMessageId`'s time prefix: base-36 milliseconds, 9 digits until the year 5188. */
const TIME_DIGITS = 9;

/**
 * A new message id: the wall clock (`now`, ms) in base-36 (fixed width, so ids sort by time)
 * followed by `newId()`'s 126 random bits. A store keeps dedup keys in a B-tree; ids made one
 * after another then land next to each other instead of on a random page each, which halved the
 * SQLite dedup store's cost per message (one dirty page per batch instead of one per key).
 */
export function newMessageId(now: number = Date.now()): string {
  return Math.max(0, Math.floor(now)).toString(36).padStart(TIME_DIGITS, "0") + newId();
}
