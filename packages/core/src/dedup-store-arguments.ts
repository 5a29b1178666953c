import { didYouMean } from "./closest-name.js";
import type { ClaimOptions, DedupOwner, StoredResponse } from "./dedup-store.js";
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

const CLAIM_OPTION_FIELDS: ReadonlySet<string> = new Set(["leaseMs", "fingerprint", "owner"]);
const OWNER_FIELDS: ReadonlySet<string> = new Set(["id", "maxEntries"]);

/** Throws `INVALID_ARGUMENT` if `value` has an own field not in `known` (a typo must not pass). */
function refuseUnknownFields(value: object, known: ReadonlySet<string>, what: string): void {
  for (const field of Object.keys(value)) {
    if (!known.has(field)) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `${what} has an unknown field ${describe(field)}${didYouMean(field, known)}; expected ${[...known].join(", ")}.`,
      );
    }
  }
}

/**
 * Throws `INVALID_ARGUMENT` unless `owner` is `{ id, maxEntries }`: an id of 1–256 code points
 * and a positive integer quota, with no other field.
 */
export function assertDedupOwner(owner: unknown): asserts owner is DedupOwner {
  if (typeof owner !== "object" || owner === null || Array.isArray(owner)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `claim owner must be { id, maxEntries }, got ${describe(owner)}.`,
    );
  }
  refuseUnknownFields(owner, OWNER_FIELDS, "claim owner");
  const o = owner as Record<string, unknown>;
  assertId(o.id, "owner.id");
  assertPositiveInteger(o.maxEntries, "owner.maxEntries");
}

/**
 * Throws `INVALID_ARGUMENT` unless `options` is `{ leaseMs, fingerprint, owner? }` with valid
 * values and no other field.
 */
export function assertClaimOptions(options: unknown): asserts options is ClaimOptions {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `claim options must be { leaseMs, fingerprint, owner? }, got ${describe(options)}.`,
    );
  }
  refuseUnknownFields(options, CLAIM_OPTION_FIELDS, "claim options");
  const o = options as Record<string, unknown>;
  assertPositiveInteger(o.leaseMs, "leaseMs");
  assertId(o.fingerprint, "fingerprint");
  if (o.owner !== undefined) assertDedupOwner(o.owner);
}

/**
 * The error of a claim refused by its owner's quota (`QUOTA_EXCEEDED`, final): the same text
 * and details from every store.
 *
 * @example throw quotaExceededError(options.owner);
 */
export function quotaExceededError(owner: DedupOwner): AssuredError {
  return new AssuredError(
    "QUOTA_EXCEEDED",
    `this owner already holds ${owner.maxEntries} unexpired dedup entries (owner.maxEntries); ` +
      "a new one is refused until earlier ones expire or are released.",
    { details: { maxEntries: owner.maxEntries } },
  );
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

/**
 * Validates the arguments of `DedupStore.renew`: the key, the token, then `leaseMs` (a positive
 * integer). Stores call it before touching state.
 */
export function assertRenewArguments(key: unknown, token: unknown, leaseMs: unknown): void {
  assertDedupKey(key);
  assertClaimToken(token);
  assertPositiveInteger(leaseMs, "leaseMs");
}

/** Most items of one `claimMany` or `completeMany` call (G11); the core helpers split longer. */
export const MAX_DEDUP_BATCH = 256;

/**
 * Throws `INVALID_ARGUMENT` unless `requests` is an array of at most `MAX_DEDUP_BATCH` items
 * (the whole batch call is refused; the items themselves are checked one by one).
 */
export function assertDedupBatch(requests: unknown, method: string): asserts requests is unknown[] {
  if (!Array.isArray(requests)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `${method} takes an array of requests, got ${describe(requests)}.`,
    );
  }
  if (requests.length > MAX_DEDUP_BATCH) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `${method} takes at most ${MAX_DEDUP_BATCH} requests (MAX_DEDUP_BATCH), got ${requests.length}; split the batch.`,
    );
  }
}

/** The `INVALID_ARGUMENT` error of one item, or undefined when `check` passes. */
function itemError(check: () => void): AssuredError | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    if (error instanceof AssuredError) return error;
    throw error;
  }
}

function assertRequestObject(request: unknown, what: string): asserts request is object {
  if (typeof request !== "object" || request === null || Array.isArray(request)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `${what} must be an object, got ${describe(request)}.`,
    );
  }
}

/**
 * Validates one item of `claimMany` (`{ key, options }`, checked as `claim`'s arguments):
 * the item's `INVALID_ARGUMENT` error, or undefined when it is valid.
 */
export function claimRequestError(request: unknown): AssuredError | undefined {
  return itemError(() => {
    assertRequestObject(request, "a claimMany request");
    const r = request as Record<string, unknown>;
    assertClaimArguments(r.key, r.options);
  });
}

/**
 * Validates one item of `completeMany` (`{ key, token, response, options }`, checked as
 * `complete`'s arguments): the item's `INVALID_ARGUMENT` error, or undefined when it is valid.
 */
export function completeRequestError(request: unknown): AssuredError | undefined {
  return itemError(() => {
    assertRequestObject(request, "a completeMany request");
    const r = request as Record<string, unknown>;
    assertCompleteArguments(r.key, r.token, r.response, r.options);
  });
}
