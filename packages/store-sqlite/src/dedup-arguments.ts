import {
  AssuredError,
  assertPayload,
  assertPositiveInteger,
  type ClaimOptions,
  describe,
  type StoredResponse,
} from "@assured/core";

/** Longest dedup key, fingerprint or token, in code points (the DedupStore contract). */
export const MAX_DEDUP_KEY_LENGTH = 512;

function codePoints(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

function hasLoneSurrogate(value: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value);
}

/** Throws `INVALID_ARGUMENT` unless `value` is a 1–512 code point string of valid Unicode. */
export function assertDedupText(value: unknown, what: string): asserts value is string {
  if (
    typeof value !== "string" ||
    value.length === 0 ||
    value.length > MAX_DEDUP_KEY_LENGTH * 2 ||
    codePoints(value) > MAX_DEDUP_KEY_LENGTH ||
    hasLoneSurrogate(value)
  ) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `${what} must be a string of 1 to ${MAX_DEDUP_KEY_LENGTH} Unicode characters, got ${describe(value)}.`,
    );
  }
}

/** Throws `INVALID_ARGUMENT` unless `options` is `{ leaseMs, fingerprint }`. */
export function assertClaimOptions(options: unknown): asserts options is ClaimOptions {
  if (typeof options !== "object" || options === null) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `claim options must be { leaseMs, fingerprint }, got ${describe(options)}.`,
    );
  }
  const o = options as Record<string, unknown>;
  assertPositiveInteger(o.leaseMs, "leaseMs");
  assertDedupText(o.fingerprint, "fingerprint");
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
