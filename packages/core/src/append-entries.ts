import type { AppendEntry } from "./event-store.js";

/**
 * Copies each entry's payload, for a store that writes after `append` returns (group commit,
 * queued I/O): the caller may reuse or change its buffers at once, and the store must still
 * write the bytes it was given. Values that are not entries pass through unchanged, so a
 * store may snapshot before it validates.
 */
export function snapshotEntries(entries: readonly AppendEntry[]): AppendEntry[] {
  if (!Array.isArray(entries)) return entries as AppendEntry[];
  return entries.map((entry: AppendEntry) =>
    typeof entry === "object" && entry !== null && entry.payload instanceof Uint8Array
      ? { ...entry, payload: entry.payload.slice() }
      : entry,
  );
}
