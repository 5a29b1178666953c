import type { AssuredError } from "./errors.js";
import type { SessionStore } from "./outbox-session-store.js";
import { corrupt, decodeResult, isObject, type MessageResult } from "./outbox-storage.js";

/**
 * Layout v1, written by earlier versions: one record `<prefix>outbox` →
 * `{ v: 1, clientId, seq, ids }` shared by every tab, and every result in one array
 * `<prefix>results`. Its messages (`<prefix>msg:<id>`, the same keys as v2) are adopted at open
 * like an orphaned session's, its client id is kept, then both keys are removed.
 */
export interface LegacyLayout {
  /** The client id of the v1 record, if it was readable. */
  clientId: string | undefined;
  /** Unanswered message ids in seq order. */
  ids: string[];
  /** Stored results, oldest first. */
  results: MessageResult[];
  /** The keys to remove once migrated. */
  keys: string[];
}

/** Reads layout v1; undefined when storage holds none. Unreadable parts are reported and skipped. */
export async function readLegacy(
  store: SessionStore,
  report: (error: AssuredError) => void,
): Promise<LegacyLayout | undefined> {
  const recordKey = `${store.prefix}outbox`;
  const resultsKey = `${store.prefix}results`;
  const [recordText, resultsText] = await Promise.all([
    store.readText(recordKey),
    store.readText(resultsKey),
  ]);
  if (recordText === null && resultsText === null) return undefined;
  const legacy: LegacyLayout = { clientId: undefined, ids: [], results: [], keys: [] };
  if (recordText !== null) {
    legacy.keys.push(recordKey);
    const record = parse(recordText);
    if (
      isObject(record) &&
      typeof record.clientId === "string" &&
      Array.isArray(record.ids) &&
      record.ids.every((id) => typeof id === "string")
    ) {
      legacy.clientId = record.clientId.length > 0 ? record.clientId : undefined;
      legacy.ids = record.ids as string[];
    } else {
      report(corrupt(recordKey));
    }
  }
  if (resultsText !== null) {
    legacy.keys.push(resultsKey);
    const results = parse(resultsText);
    if (Array.isArray(results)) {
      for (const item of results) {
        const result = decodeResult(item);
        if (result) legacy.results.push(result);
      }
    } else {
      report(corrupt(resultsKey));
    }
  }
  return legacy;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
