import { AssuredError } from "./errors.js";
import { assertId } from "./validate.js";

/**
 * Longest dedup principal, in UTF-16 code units. With the length prefix and a message id of at
 * most 256 code points the key stays within the dedup store's 512-code-point bound.
 */
export const MAX_PRINCIPAL_LENGTH = 248;

/**
 * The dedup key of a client message: `<principal length>:<principal><message id>`. The length
 * prefix makes the encoding unambiguous: no principal, whatever separators it contains, can
 * produce the key of another (principal, id) pair.
 *
 * @throws AssuredError `INVALID_ARGUMENT` for an empty or too long principal or an invalid id.
 * @example dedupKey("user:42", "V1StGXR8_Z5jdHi6B-myT") // "7:user:42V1StGXR8_Z5jdHi6B-myT"
 */
export function dedupKey(principal: string, id: string): string {
  assertId(principal, "dedup principal");
  if (principal.length > MAX_PRINCIPAL_LENGTH) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `dedup principal must be a string of 1 to ${MAX_PRINCIPAL_LENGTH} characters, got ${principal.length}; hash long principals.`,
    );
  }
  assertId(id, "message id");
  return `${principal.length}:${principal}${id}`;
}
