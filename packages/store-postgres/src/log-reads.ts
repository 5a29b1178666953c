import type { EventRecord, Offset } from "@assured/core";
import type { ReadResult, Retention, StreamHead } from "@assured/core/store";
import type { Pool, QueryConfig } from "pg";
import { bytesPayload, bytesText, textBytes } from "./bytes.js";
import { earliestSql, retentionParams } from "./earliest-sql.js";
import type { Tables } from "./tables.js";

/** The state of a stream without a log. */
export const NO_LOG: StreamHead = { epoch: "", head: 0, earliest: 1 };

interface PageRow {
  epoch: string;
  head: string;
  earliest: string;
  event_offset: string | null;
  event_id: Buffer | null;
  event_name: Buffer | null;
  payload: Buffer | null;
  appended_at: number | null;
}

/**
 * The statement of a page of `stream` after `after` (at most `limit` records) with the stream's
 * epoch, head and earliest retained offset, in ONE statement, so they all come from one snapshot.
 * Its rows are `epoch, head, earliest, event_offset, event_id, event_name, payload, appended_at`:
 * none for an unknown stream, one with NULL event columns for an empty page. With `maxBytes`, the
 * page is cut after that many payload bytes (its first record always stays), before any payload
 * leaves the server. Creates nothing.
 */
export function pageQuery(
  t: Tables,
  stream: string,
  after: Offset,
  limit: number,
  now: number,
  retention: Retention,
  maxBytes?: number,
): QueryConfig {
  const values: unknown[] = [textBytes(stream), ...retentionParams(retention, now), after, limit];
  let page =
    `SELECT * FROM ${t.events} v WHERE v.stream_id = r.stream_id ` +
    "AND v.event_offset >= greatest($4::bigint + 1, r.earliest) AND v.event_offset <= r.head " +
    "ORDER BY v.event_offset LIMIT $5";
  if (maxBytes !== undefined) {
    // octet_length takes a stored value's size from its header (no TOAST fetch): payloads
    // past the cut are neither sent nor, when stored out of line, read.
    page =
      "SELECT * FROM (SELECT p.*, sum(octet_length(p.payload)) OVER w AS upto, row_number() OVER w AS n " +
      `FROM (${page}) p WINDOW w AS (ORDER BY p.event_offset ROWS UNBOUNDED PRECEDING)) c ` +
      "WHERE c.n = 1 OR c.upto <= $6";
    values.push(maxBytes);
  }
  return t.sql.query(
    `WITH s AS (SELECT stream_id, epoch, head FROM ${t.streams} WHERE stream_name = $1), ` +
      // MATERIALIZED: computed once. Inlined, PostgreSQL evaluated the earliest subquery again
      // for every row of the page (1,000 index probes, 9 of a page's 11 ms).
      `r AS MATERIALIZED (SELECT s.stream_id, s.epoch, s.head, ${earliestSql(t.events, "s", 2, 3)} AS earliest FROM s) ` +
      "SELECT r.epoch, r.head, r.earliest, e.event_offset, e.event_id, e.event_name, e.payload, e.appended_at " +
      `FROM r LEFT JOIN LATERAL (${page}) e ON true ORDER BY e.event_offset`,
    values,
  );
}

/** Reads a page of a stream and its state in one statement (`pageQuery`). Creates nothing. */
export async function readPage(
  pool: Pool,
  t: Tables,
  stream: string,
  after: Offset,
  limit: number,
  now: number,
  retention: Retention,
): Promise<ReadResult> {
  const { rows } = await pool.query<PageRow>(pageQuery(t, stream, after, limit, now, retention));
  const first = rows[0];
  if (first === undefined) return { ...NO_LOG, records: [] };
  const records: EventRecord[] = [];
  for (const row of rows) {
    if (row.event_offset === null) continue;
    records.push({
      stream,
      offset: Number(row.event_offset),
      id: bytesText(row.event_id!),
      name: bytesText(row.event_name!),
      payload: bytesPayload(row.payload!),
      time: row.appended_at!,
    });
  }
  return {
    epoch: first.epoch,
    head: Number(first.head),
    earliest: Number(first.earliest),
    records,
  };
}

/** A stream's epoch, head and earliest retained offset, in one statement; creates nothing. */
export async function readHead(
  pool: Pool,
  t: Tables,
  stream: string,
  now: number,
  retention: Retention,
): Promise<StreamHead> {
  const { rows } = await pool.query<{ epoch: string; head: string; earliest: string }>(
    t.sql.query(
      `SELECT s.epoch, s.head, ${earliestSql(t.events, "s", 2, 3)} AS earliest ` +
        `FROM ${t.streams} s WHERE s.stream_name = $1`,
      [textBytes(stream), ...retentionParams(retention, now)],
    ),
  );
  const row = rows[0];
  if (row === undefined) return { ...NO_LOG };
  return { epoch: row.epoch, head: Number(row.head), earliest: Number(row.earliest) };
}
