import { AssuredError, encode } from "@assured/core";

/** Codes a handler may throw to ask the client to retry later instead of storing the error. */
const RETRYABLE_CODES = new Set(["STORE_UNAVAILABLE", "TIMEOUT", "RATE_LIMITED", "LIMIT_EXCEEDED"]);

/**
 * True for a failure that must not become the message's final stored outcome: an
 * `AssuredError` with a retryable code (for example `STORE_UNAVAILABLE` from a `publish` inside
 * the handler). The claim is released and the client retries.
 */
export function isRetryableFailure(error: unknown): boolean {
  return error instanceof AssuredError && RETRYABLE_CODES.has(error.code);
}

/**
 * Encodes what a handler threw as the stored application error: an `Error` becomes
 * `{ name, message, code?, details? }` (own `code`/`details` properties only when they encode);
 * any other thrown value is encoded as it is (or `{ message: String(value) }` if it cannot be).
 */
export function encodeApplicationError(thrown: unknown): Uint8Array {
  if (thrown instanceof Error) {
    const data: Record<string, unknown> = { name: thrown.name, message: thrown.message };
    const extra = thrown as Error & { code?: unknown; details?: unknown };
    if (extra.code !== undefined) data.code = extra.code;
    if (extra.details !== undefined) data.details = extra.details;
    try {
      return encode(data);
    } catch {
      return encode({ name: thrown.name, message: thrown.message });
    }
  }
  try {
    return encode(thrown);
  } catch {
    return encode({ message: String(thrown) });
  }
}
