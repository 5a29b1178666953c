import { encode } from "./codec.js";
import { AssuredError } from "./errors.js";
import type { AppendEntry } from "./event-store.js";
import {
  assertEventName,
  assertId,
  assertKnownOptions,
  describe,
  MAX_APPEND_BATCH,
} from "./validate.js";

/** One event of a store's `appendInTransaction`: a name, data encoded like `publish` does, an optional id. */
export interface TransactionalEntry {
  /** The event name the subscribers' handlers are registered for (1–256 code points). */
  name: string;
  /** The event's data (anything `encode` takes: JSON-like values, Uint8Array, Date…). */
  data: unknown;
  /** Idempotency id: an id the stream already holds (within retention) appends nothing. */
  id?: string;
}

const ENTRY_KEYS: readonly string[] = ["name", "data", "id"] satisfies (keyof TransactionalEntry)[];

function invalid(message: string): AssuredError {
  return new AssuredError("INVALID_ARGUMENT", message);
}

/**
 * Validates the entries of a store's `appendInTransaction` and encodes their data the way
 * `AssuredServer.publish` does, before anything is written: 1–`MAX_APPEND_BATCH` entries of
 * `{ name, data, id? }` (`INVALID_ARGUMENT`, unknown keys named with the closest one), data
 * `encode` can carry (`CODEC_ERROR`), payloads of at most `maxPayloadBytes` (`PAYLOAD_TOO_LARGE`).
 */
export function encodeTransactionalEntries(
  entries: unknown,
  maxPayloadBytes: number,
): AppendEntry[] {
  if (!Array.isArray(entries)) {
    throw invalid(`entries must be an array of { name, data, id? }, got ${describe(entries)}.`);
  }
  if (entries.length < 1 || entries.length > MAX_APPEND_BATCH) {
    throw invalid(`entries must hold 1 to ${MAX_APPEND_BATCH} entries, got ${entries.length}.`);
  }
  return (entries as unknown[]).map((entry): AppendEntry => {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw invalid(`each entry must be { name, data, id? }, got ${describe(entry)}.`);
    }
    assertKnownOptions(entry, ENTRY_KEYS, "an appendInTransaction entry", "TransactionalEntry");
    const { name, data, id } = entry as TransactionalEntry;
    assertEventName(name);
    if (id !== undefined) assertId(id, "event id");
    const payload = encode(data);
    if (payload.byteLength > maxPayloadBytes) {
      throw new AssuredError(
        "PAYLOAD_TOO_LARGE",
        `event payload is ${payload.byteLength} bytes; the limit is ${maxPayloadBytes} (maxPayloadBytes).`,
      );
    }
    return id === undefined ? { name, payload } : { id, name, payload };
  });
}
