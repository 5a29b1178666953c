import type { ClaimOptions, StoredResponse } from "./dedup-store.js";
import { AssuredError } from "./errors.js";
import { assertId, assertPositiveInteger, describe } from "./validate.js";

/** Longest dedup key, in Unicode code points (the server joins principal and message id). */
export const MAX_DEDUP_KEY_LENGTH = 512;

/** Throws `INVALID_ARGUMENT` unless `key` is a well-formed string of 1–512 code points. */
export function assertDedupKey(key: unknown): asserts key is string {
  if (typeof key !== "string" || key.length === 0) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `dedup key must be a non-empty string, got ${describe(key)}.`,
    );
  }
  if (key.length > MAX_DEDUP_KEY_LENGTH * 2 || [...key].length > MAX_DEDUP_KEY_LENGTH) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `dedup key is longer than ${MAX_DEDUP_KEY_LENGTH} characters; shorten it.`,
    );
  }
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(key)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      "dedup key contains a lone UTF-16 surrogate; use valid Unicode.",
    );
  }
}

/** Throws `INVALID_ARGUMENT` unless `options` is `{ leaseMs, fingerprint }` with valid values. */
export function assertClaimOptions(options: unknown): asserts options is ClaimOptions {
  if (typeof options !== "object" || options === null) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `claim options must be { leaseMs, fingerprint }, got ${describe(options)}.`,
    );
  }
  const o = options as Record<string, unknown>;
  assertPositiveInteger(o.leaseMs, "leaseMs");
  assertId(o.fingerprint, "fingerprint");
}

/** Throws `INVALID_ARGUMENT` unless `token` is a claim token (a non-empty string). */
export function assertClaimToken(token: unknown): asserts token is string {
  assertId(token, "claim token");
}

/** Throws `INVALID_ARGUMENT` unless `response` is `{ ok: boolean, payload: Uint8Array }`. */
export function assertStoredResponse(response: unknown): asserts response is StoredResponse {
  if (typeof response !== "object" || response === null) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `response must be { ok, payload }, got ${describe(response)}.`,
    );
  }
  const r = response as Record<string, unknown>;
  if (typeof r.ok !== "boolean") {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `response.ok must be a boolean, got ${describe(r.ok)}.`,
    );
  }
  if (!(r.payload instanceof Uint8Array)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `response.payload must be a Uint8Array (use encode()), got ${describe(r.payload)}.`,
    );
  }
}

/** Throws `INVALID_ARGUMENT` unless `options` is `{ ttlMs }` with a positive integer. */
export function assertCompleteOptions(options: unknown): asserts options is { ttlMs: number } {
  if (typeof options !== "object" || options === null) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `complete options must be { ttlMs }, got ${describe(options)}.`,
    );
  }
  assertPositiveInteger((options as Record<string, unknown>).ttlMs, "ttlMs");
}
