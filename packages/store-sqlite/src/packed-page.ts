import type { WireRecord } from "@assured/core/protocol";
import { pageCut } from "@assured/core/store";

/** A row of the page query: `[offset, id, name, payload, time]`. */
export type PageRow = [offset: number, id: string, name: string, payload: Buffer, time: number];

/**
 * The rows of a page packed for the wire (`EventStore.readPacked`): the first rows whose payloads
 * add up to at most `maxBytes` (the first row always), each payload copied once into one buffer
 * and each row turned in place into its wire record `[offset, id, name, length, time]` (no
 * object per record: the rows are the query's own arrays).
 */
export function packRows(
  rows: PageRow[],
  maxBytes: number,
): { records: WireRecord[]; payloads: Uint8Array } {
  const { count: end, bytes } = pageCut(rows.length, (i) => rows[i]![3].byteLength, maxBytes);
  rows.length = end;
  const payloads = new Uint8Array(bytes);
  let at = 0;
  const records = rows as unknown as WireRecord[];
  for (let i = 0; i < end; i++) {
    const row = rows[i]!;
    const payload = row[3];
    payloads.set(payload, at);
    at += payload.byteLength;
    (records[i] as unknown as unknown[])[3] = payload.byteLength;
  }
  return { records, payloads };
}

/**
 * A page read as columns, one value each (`PAGE_COLUMNS_SQL`): JSON arrays of the offsets, ids,
 * names, payload lengths and times, and the payloads concatenated into one blob, all aggregated
 * in the same pass over the rows.
 */
export type PageColumns = [
  offsets: string,
  ids: string,
  names: string,
  lengths: string,
  times: string,
  payloads: Buffer | null,
];

/**
 * Most payload bytes (all the rows the page query reads) that `PAGE_COLUMNS_SQL` returns in its
 * blob: twice the page's `maxBytes`, at most 16 MiB. A page whose rows hold more (large events
 * the cut at `maxBytes` would mostly drop) is read row by row instead, so the blob stays small.
 */
export function pageColumnsBound(maxBytes: number): number {
  return Math.min(2 * maxBytes, 16 * 1024 * 1024);
}

/**
 * The page query as aggregates: one row of six values instead of a row of five values and a
 * payload buffer per event, so reading 100,000 events took 130 ms instead of 330 (better-sqlite3
 * allocates per value). SQLite does not promise that aggregates see the rows in the subquery's
 * order (an `ORDER BY` inside each aggregate would sort them again and cost what it saves), so
 * `packColumns` checks the offsets and the caller falls back to the row query when they are not
 * ascending. All the aggregates of one group see its rows in the same order, so the columns
 * stay aligned whatever that order is. The payloads are concatenated as they are stored:
 * `group_concat` copies a blob's bytes as text without looking at them in a UTF-8 database
 * (`EventLog` checks the encoding; in a UTF-16 one it would transcode them, so there the rows
 * are read instead), and the cast gives them back as a blob; `packColumns` checks that they add
 * up to the lengths. (They travelled as `hex()` before: 35–50 ms per 100,000 67-byte payloads
 * to format and decode, against 13–16 ms.) Parameters: the bound (`pageColumnsBound`; above it
 * the payloads come back NULL), the stream id, the first offset, the row limit.
 */
export const PAGE_COLUMNS_SQL =
  "SELECT json_group_array(event_offset), json_group_array(event_id), " +
  "json_group_array(event_name), json_group_array(length(payload)), " +
  "json_group_array(appended_at), " +
  "CASE WHEN sum(length(payload)) <= ? THEN CAST(group_concat(payload, '') AS BLOB) END FROM (" +
  "SELECT event_offset, event_id, event_name, payload, appended_at FROM assured_events " +
  "WHERE stream_id = ? AND event_offset >= ? ORDER BY event_offset LIMIT ?)";

/**
 * The columns of a page packed for the wire as `packRows` packs rows (the first records whose
 * payloads add up to at most `maxBytes`, the first always), or undefined when the offsets are not
 * ascending or the payloads were left out (beyond the hex bound): read the rows instead.
 */
export function packColumns(
  columns: PageColumns,
  maxBytes: number,
): { records: WireRecord[]; payloads: Uint8Array } | undefined {
  const offsets = JSON.parse(columns[0]) as number[];
  for (let i = 1; i < offsets.length; i++) {
    if (!(offsets[i]! > offsets[i - 1]!)) return undefined;
  }
  const lengths = JSON.parse(columns[3]) as number[];
  const { count, bytes } = pageCut(offsets.length, (i) => lengths[i]!, maxBytes);
  const ids = JSON.parse(columns[1]) as string[];
  const names = JSON.parse(columns[2]) as string[];
  const times = JSON.parse(columns[4]) as number[];
  const records: WireRecord[] = new Array(count);
  for (let i = 0; i < count; i++) {
    records[i] = [offsets[i]!, ids[i]!, names[i]!, lengths[i]!, times[i]!];
  }
  // NULL: the rows hold more than the bound (a page that keeps no payload byte needs none).
  const all = columns[5];
  if (all === null) {
    if (bytes > 0) return undefined;
  } else {
    let total = 0;
    for (const length of lengths) total += length;
    if (all.byteLength !== total) return undefined;
  }
  // Copied into a buffer of the page's own (the cut may keep only the first rows' bytes).
  const payloads = new Uint8Array(bytes);
  if (bytes > 0) payloads.set(all!.subarray(0, bytes));
  return { records, payloads };
}
