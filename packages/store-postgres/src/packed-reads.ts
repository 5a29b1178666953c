import type { Offset } from "@assured/core";
import type { WireRecord } from "@assured/core/protocol";
import type { PackedPage, Retention } from "@assured/core/store";
import type { Pool } from "pg";
import { bytesText } from "./bytes.js";
import { NO_LOG, pageQuery } from "./log-reads.js";
import type { Tables } from "./tables.js";

/** A row of `pageQuery` in array mode; the event columns are NULL for an empty page. */
type PageRow = [
  epoch: string,
  head: string,
  earliest: string,
  offset: string | null,
  id: Buffer | null,
  name: Buffer | null,
  payload: Buffer | null,
  time: number | null,
];

/**
 * `readPage` packed for the wire (`EventStore.readPacked`), cut after `maxBytes` of payloads by
 * the statement itself: rows as arrays, no record objects, each payload copied once, into one
 * buffer of the caller's own.
 */
export async function readPackedPage(
  pool: Pool,
  t: Tables,
  stream: string,
  after: Offset,
  limit: number,
  maxBytes: number,
  now: number,
  retention: Retention,
): Promise<PackedPage> {
  const { rows } = await pool.query<PageRow>({
    ...pageQuery(t, stream, after, limit, now, retention, maxBytes),
    rowMode: "array",
  });
  const first = rows[0];
  if (first === undefined) return { ...NO_LOG, records: [], payloads: new Uint8Array(0) };
  const head = { epoch: first[0], head: Number(first[1]), earliest: Number(first[2]) };
  if (first[3] === null) return { ...head, records: [], payloads: new Uint8Array(0) };
  let total = 0;
  for (const row of rows) total += row[6]!.byteLength;
  const payloads = new Uint8Array(total);
  const records: WireRecord[] = new Array(rows.length);
  let at = 0;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const payload = row[6]!;
    payloads.set(payload, at);
    at += payload.byteLength;
    records[i] = [
      Number(row[3]),
      bytesText(row[4]!),
      bytesText(row[5]!),
      payload.byteLength,
      row[7]!,
    ];
  }
  return { ...head, records, payloads };
}
