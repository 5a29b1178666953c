import { nanoid } from "nanoid";

/**
 * A new unguessable id (21 URL-safe characters, 126 bits of randomness, from `nanoid`), used
 * for event ids, message idempotency keys, epochs and claim tokens.
 */
export function newId(): string {
  return nanoid();
}
