const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";

/**
 * A 21-character URL-safe random id (126 bits) for a message's idempotency key. Uses
 * `crypto.getRandomValues`, which, unlike `crypto.randomUUID`, also exists on plain-HTTP pages.
 */
export function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(21));
  let id = "";
  for (const byte of bytes) id += ALPHABET[byte & 63];
  return id;
}
