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
