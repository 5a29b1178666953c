import { didYouMean } from "./closest-name.js";
import { AssuredError } from "./errors.js";
import type { EventRecord, Position } from "./types.js";

/** Longest stream name, in Unicode code points. */
export const MAX_STREAM_NAME_LENGTH = 256;
/** Longest event id, message id or event name, in Unicode code points. */
export const MAX_ID_LENGTH = 256;
/** Longest epoch string accepted from a peer. */
export const MAX_EPOCH_LENGTH = 128;
/** Largest `limit` a single `read` may ask for. */
export const MAX_READ_LIMIT = 10_000;
/** Largest number of entries in one `append` call. */
export const MAX_APPEND_BATCH = 10_000;

function codePointLength(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function isWellFormed(value: string): boolean {
  // Lone surrogates cannot be stored as UTF-8 by every backend. The built-in check (Node 20,
  // current browsers) is many times faster than the pattern; it runs for every name and id.
  const builtIn = (value as { isWellFormed?: () => boolean }).isWellFormed;
  return typeof builtIn === "function" ? builtIn.call(value) : !LONE_SURROGATE.test(value);
}

/**
 * Throws `code` unless `value` is a non-empty string of at most `max` Unicode code points
 * with no lone UTF-16 surrogate. The shared check behind every name, id and key.
 *
 * @example assertText(key, "dedup key", 512);
 */
export function assertText(
  value: unknown,
  what: string,
  max: number,
  code: "INVALID_STREAM" | "INVALID_ARGUMENT" = "INVALID_ARGUMENT",
): asserts value is string {
  if (typeof value !== "string" || value.length === 0) {
    throw new AssuredError(code, `${what} must be a non-empty string, got ${describe(value)}.`);
  }
  // A string has at most as many code points as UTF-16 units: most need no count.
  if (value.length > max && (value.length > max * 2 || codePointLength(value) > max)) {
    throw new AssuredError(code, `${what} is longer than ${max} characters; shorten it.`);
  }
  if (!isWellFormed(value)) {
    throw new AssuredError(code, `${what} contains a lone UTF-16 surrogate; use valid Unicode.`);
  }
}

/** Throws `INVALID_STREAM` unless `stream` is a valid stream name (1–256 code points). */
export function assertStreamName(stream: unknown): asserts stream is string {
  assertText(stream, "stream name", MAX_STREAM_NAME_LENGTH, "INVALID_STREAM");
}

/** Throws `INVALID_ARGUMENT` unless `id` is a valid event or message id. */
export function assertId(id: unknown, what = "id"): asserts id is string {
  assertText(id, what, MAX_ID_LENGTH);
}

/** Throws `INVALID_ARGUMENT` unless `name` is a valid event name. */
export function assertEventName(name: unknown): asserts name is string {
  assertText(name, "event name", MAX_ID_LENGTH);
}

/** Throws `INVALID_OFFSET` unless `offset` is an integer in [0, MAX_SAFE_INTEGER]. */
export function assertOffset(offset: unknown, what = "offset"): asserts offset is number {
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
    throw new AssuredError(
      "INVALID_OFFSET",
      `${what} must be a non-negative safe integer, got ${describe(offset)}.`,
    );
  }
}

/** Throws `INVALID_ARGUMENT` unless `limit` is an integer in [1, max]. */
export function assertLimit(limit: unknown, max = MAX_READ_LIMIT): asserts limit is number {
  if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 1 || limit > max) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `limit must be an integer from 1 to ${max}, got ${describe(limit)}.`,
    );
  }
}

/** Throws `INVALID_EPOCH` unless `epoch` is a string of at most 128 characters. */
export function assertEpoch(epoch: unknown): asserts epoch is string {
  if (typeof epoch !== "string" || epoch.length > MAX_EPOCH_LENGTH) {
    throw new AssuredError(
      "INVALID_EPOCH",
      `epoch must be a string of at most ${MAX_EPOCH_LENGTH} characters, got ${describe(epoch)}.`,
    );
  }
}

/**
 * Throws unless `position` is a valid `{ epoch, offset, id? }`: `INVALID_EPOCH`,
 * `INVALID_OFFSET`, or `INVALID_ARGUMENT` (not an object; an `id` that is not a valid event id,
 * or an `id` at offset 0, where there is no event).
 */
export function assertPosition(position: unknown): asserts position is Position {
  if (typeof position !== "object" || position === null || Array.isArray(position)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `position must be { epoch, offset, id? }, got ${describe(position)}.`,
    );
  }
  const p = position as Record<string, unknown>;
  assertEpoch(p.epoch);
  assertOffset(p.offset, "position offset");
  if (p.id === undefined) return;
  assertId(p.id, "position id");
  if (p.offset === 0) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      "position id names the event at the position's offset; offset 0 has none.",
    );
  }
}

/** Throws `INVALID_ARGUMENT` unless `value` is a positive integer (a size, count or duration). */
export function assertPositiveInteger(value: unknown, what: string): asserts value is number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `${what} must be a positive integer, got ${describe(value)}.`,
    );
  }
}

/**
 * Throws `INVALID_ARGUMENT` unless `options` is an object (not an array) whose own keys are all
 * in `known`; the message names the first unknown key and the closest known one, so a
 * misspelled option (`maxEntry` for `maxEntries`) fails, saying the fix, instead of silently
 * using the default.
 * Derive `known` from the option type (`[...] satisfies (keyof XOptions)[]`) so it cannot drift.
 *
 * @example assertKnownOptions(options, ["clock", "maxEntries"], "MemoryDedupStore", "MemoryDedupStoreOptions");
 */
export function assertKnownOptions(
  options: unknown,
  known: ReadonlySet<string> | readonly string[],
  what: string,
  typeName: string,
): asserts options is object {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `options of ${what} must be an object (see ${typeName}), got ${describe(options)}.`,
    );
  }
  const isKnown = (key: string): boolean =>
    Array.isArray(known)
      ? (known as readonly string[]).includes(key)
      : (known as ReadonlySet<string>).has(key);
  for (const key of Object.keys(options)) {
    if (!isKnown(key)) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `unknown option ${describe(key)} of ${what}${didYouMean(key, known)} (see ${typeName}).`,
      );
    }
  }
}

/** Throws `INVALID_ARGUMENT` unless `payload` is a Uint8Array. */
export function assertPayload(payload: unknown, what = "payload"): asserts payload is Uint8Array {
  if (!(payload instanceof Uint8Array)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `${what} must be a Uint8Array (use encode()), got ${describe(payload)}.`,
    );
  }
}

/** Checks that a record has the shape of an `EventRecord` (for data read back from peers). */
export function isEventRecord(value: unknown): value is EventRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.stream === "string" &&
    typeof r.offset === "number" &&
    Number.isSafeInteger(r.offset) &&
    r.offset > 0 &&
    typeof r.id === "string" &&
    typeof r.name === "string" &&
    r.payload instanceof Uint8Array &&
    typeof r.time === "number"
  );
}

/** A short, safe description of a value for error messages (never the whole value). */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string")
    return value.length > 40 ? `a ${value.length}-character string` : JSON.stringify(value);
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : typeof value;
}
