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
