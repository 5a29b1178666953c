import type { ClaimOptions, StoredResponse } from "./dedup-store.js";
import { AssuredError } from "./errors.js";
import {
  assertId,
  assertPayload,
  assertPositiveInteger,
  assertText,
  describe,
} from "./validate.js";

/** Longest dedup key, in Unicode code points (the server joins principal and message id). */
export const MAX_DEDUP_KEY_LENGTH = 512;

/** Throws `INVALID_ARGUMENT` unless `key` is a well-formed string of 1–512 code points. */
export function assertDedupKey(key: unknown): asserts key is string {
  assertText(key, "dedup key", MAX_DEDUP_KEY_LENGTH);
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
  assertPayload(r.payload, "response.payload");
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

/**
 * Validates the arguments of `DedupStore.claim`: the key, then the options. Stores call it
 * before touching state.
 */
export function assertClaimArguments(key: unknown, options: unknown): void {
  assertDedupKey(key);
  assertClaimOptions(options);
}

/**
 * Validates the arguments of `DedupStore.complete`: key, token, response, then `{ ttlMs }`.
 * Stores call it before touching state.
 */
export function assertCompleteArguments(
  key: unknown,
  token: unknown,
  response: unknown,
  options: unknown,
): void {
  assertDedupKey(key);
  assertClaimToken(token);
  assertStoredResponse(response);
  assertCompleteOptions(options);
}

/** Validates the arguments of `DedupStore.release`: the key, then the token. */
export function assertReleaseArguments(key: unknown, token: unknown): void {
  assertDedupKey(key);
  assertClaimToken(token);
}
