import { AssuredError } from "./errors.js";
import type { AppendEntry, ReadOptions, Retention } from "./event-store.js";
import {
  assertEventName,
  assertId,
  assertKnownOptions,
  assertLimit,
  assertOffset,
  assertPayload,
  assertPositiveInteger,
  describe,
  MAX_APPEND_BATCH,
} from "./validate.js";

/**
 * Throws `INVALID_ARGUMENT` unless `entries` is an array of 1–`MAX_APPEND_BATCH` valid append
 * entries (`{ id?, name, payload }`). Stores call it before touching state, so one bad entry
 * rejects the whole batch.
 */
export function assertAppendEntries(entries: unknown): asserts entries is readonly AppendEntry[] {
  if (!Array.isArray(entries)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `entries must be an array of { id?, name, payload }, got ${describe(entries)}.`,
    );
  }
  assertLimit(entries.length, MAX_APPEND_BATCH);
  for (const entry of entries as unknown[]) {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `each entry must be { id?, name, payload }, got ${describe(entry)}.`,
      );
    }
    const e = entry as Record<string, unknown>;
    if (e.id !== undefined) assertId(e.id, "entry id");
    assertEventName(e.name);
    assertPayload(e.payload, "entry payload");
  }
}

/** Throws unless `options` is `{ after, limit }` with a valid offset and a limit of 1–10,000. */
export function assertReadOptions(options: unknown): asserts options is ReadOptions {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `read options must be { after, limit }, got ${describe(options)}.`,
    );
  }
  const o = options as Record<string, unknown>;
  assertOffset(o.after, "after");
  assertLimit(o.limit);
}

const RETENTION_KEYS: readonly string[] = ["maxLength", "maxAgeMs"] satisfies (keyof Retention)[];

/**
 * Throws `INVALID_ARGUMENT` unless `retention` is `{ maxLength?, maxAgeMs? }` of positive
 * integers, with no other key.
 */
export function assertRetention(retention: unknown): asserts retention is Retention {
  if (typeof retention !== "object" || retention === null || Array.isArray(retention)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `retention must be { maxLength?, maxAgeMs? }, got ${describe(retention)}.`,
    );
  }
  assertKnownOptions(retention, RETENTION_KEYS, "retention", "Retention");
  const r = retention as Record<string, unknown>;
  if (r.maxLength !== undefined) assertPositiveInteger(r.maxLength, "retention.maxLength");
  if (r.maxAgeMs !== undefined) assertPositiveInteger(r.maxAgeMs, "retention.maxAgeMs");
}
