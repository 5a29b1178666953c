import { type AppendResult, newId, type Retention } from "@assured/core/store";
import type { Pool } from "pg";
import { GeneratedIds, type LogWrite } from "./append-group.js";
import { payloadBytes, textBytes } from "./bytes.js";
import type { Tables } from "./tables.js";

/** An append with no caller ids: nothing to look up, every entry gets the next offset. */
type PlainAppend = LogWrite & { kind: "append" };

/**
 * True when a group can be written by `appendInOneStatement`: appends only (no reset), no entry
 * with an id of the caller's (no duplicates to look for), and no retention (nothing to trim).
 */
export function fitsOneStatement(
  writes: readonly LogWrite[],
  retention: Retention,
): writes is readonly PlainAppend[] {
  if (retention.maxLength !== undefined || retention.maxAgeMs !== undefined) return false;
  return writes.every(
    (write) => write.kind === "append" && write.entries.every((entry) => entry.id === undefined),
  );
}

/**
 * Writes a group of plain appends (see `fitsOneStatement`) in one statement, so in one round
 * trip and one implicit transaction, with the same guarantees as `writeGroup`:
 *
 * - The first part raises every touched stream's head by its number of new events
 *   (`INSERT … ON CONFLICT DO UPDATE SET head = head + n … RETURNING`, in byte order of the
 *   names so two groups never deadlock), creating a missing stream with its epoch. The row lock
 *   is held until the statement commits: appenders of a stream on any connection, process or
 *   node queue behind it and each raises the head the previous one committed (gapless
 *   offsets); a statement that took offsets after another's commits after it (prefix
 *   visibility).
 * - The second part inserts the events at the offsets below the returned head.
 *
 * A group of one stream (the usual case) gets a simpler statement, which plans faster.
 */
export async function appendInOneStatement(
  pool: Pool,
  t: Tables,
  writes: readonly PlainAppend[],
  now: number,
): Promise<AppendResult[][]> {
  const counts = new Map<string, number>();
  for (const write of writes) {
    counts.set(write.stream, (counts.get(write.stream) ?? 0) + write.entries.length);
  }
  const names = [...counts.keys()]
    .map((stream) => ({ stream, bytes: textBytes(stream) }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  const index = new Map(names.map((name, i) => [name.stream, i + 1]));
  // Per new event: its stream (1-based index into the names), how far below its stream's new
  // head its offset is, its id, name and payload.
  const ids = new GeneratedIds();
  const left = new Map(counts);
  const eventStreams: number[] = [];
  const below: number[] = [];
  const eventIds: string[] = [];
  const eventNames: Buffer[] = [];
  const payloads: Buffer[] = [];
  const placed = writes.map((write) =>
    write.entries.map((entry) => {
      const remaining = left.get(write.stream)! - 1;
      left.set(write.stream, remaining);
      const id = ids.next();
      eventStreams.push(index.get(write.stream)!);
      below.push(remaining);
      eventIds.push(id);
      eventNames.push(textBytes(entry.name));
      payloads.push(payloadBytes(entry.payload));
      return { id, below: remaining };
    }),
  );
  const events = { below, ids: eventIds.map(textBytes), names: eventNames, payloads };
  const heads =
    names.length === 1
      ? await oneStream(pool, t, names[0]!, counts.get(names[0]!.stream)!, events, now)
      : await manyStreams(pool, t, names, counts, { ...events, streams: eventStreams }, now);
  return writes.map((write, w) => {
    const { epoch, head } = heads.get(write.stream)!;
    return placed[w]!.map(({ id, below: b }) => ({
      offset: head - b,
      id,
      duplicate: false,
      epoch,
    }));
  });
}

/** The new events of a group, in group order: the columns the statements insert. */
interface EventColumns {
  /** How far below its stream's new head each event's offset is. */
  below: number[];
  ids: Buffer[];
  names: Buffer[];
  payloads: Buffer[];
}

/** The epoch and new head of each touched stream, by name. */
type Heads = Map<string, { epoch: string; head: number }>;

/** The statement for a group that touches one stream (the usual case): simpler to plan. */
async function oneStream(
  pool: Pool,
  t: Tables,
  name: { stream: string; bytes: Buffer },
  count: number,
  events: EventColumns,
  now: number,
): Promise<Heads> {
  const { rows } = await pool.query<{ epoch: string; head: string }>(
    t.sql.query(
      `WITH s AS (INSERT INTO ${t.streams} AS s (stream_name, epoch, head) VALUES ($1, $2, $3) ` +
        "ON CONFLICT (stream_name) DO UPDATE SET head = s.head + excluded.head " +
        "RETURNING s.stream_id, s.epoch, s.head), " +
        `e AS (INSERT INTO ${t.events} (stream_id, event_offset, event_id, event_name, payload, appended_at) ` +
        "SELECT s.stream_id, s.head - x.b, x.i, x.n, x.p, $8::double precision " +
        "FROM s, unnest($4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[]) AS x(b, i, n, p)) " +
        "SELECT s.epoch, s.head FROM s",
      [name.bytes, newId(), count, events.below, events.ids, events.names, events.payloads, now],
    ),
  );
  const row = rows[0]!;
  return new Map([[name.stream, { epoch: row.epoch, head: Number(row.head) }]]);
}

/** The statement for a group that touches several streams, locked in the order of `names`. */
async function manyStreams(
  pool: Pool,
  t: Tables,
  names: readonly { stream: string; bytes: Buffer }[],
  counts: ReadonlyMap<string, number>,
  events: EventColumns & { streams: number[] },
  now: number,
): Promise<Heads> {
  const { rows } = await pool.query<{ i: string; epoch: string; head: string }>(
    t.sql.query(
      `WITH s AS (INSERT INTO ${t.streams} AS s (stream_name, epoch, head) ` +
        "SELECT n, e, c FROM unnest($1::bytea[], $2::text[], $3::bigint[]) WITH ORDINALITY AS x(n, e, c, i) ORDER BY i " +
        "ON CONFLICT (stream_name) DO UPDATE SET head = s.head + excluded.head " +
        "RETURNING s.stream_id, s.stream_name, s.epoch, s.head), " +
        `e AS (INSERT INTO ${t.events} (stream_id, event_offset, event_id, event_name, payload, appended_at) ` +
        "SELECT s.stream_id, s.head - x.b, x.i, x.n, x.p, $9::double precision " +
        "FROM unnest($4::int[], $5::bigint[], $6::bytea[], $7::bytea[], $8::bytea[]) AS x(k, b, i, n, p) " +
        "JOIN s ON s.stream_name = ($1::bytea[])[x.k]) " +
        "SELECT array_position($1::bytea[], s.stream_name) AS i, s.epoch, s.head FROM s",
      [
        names.map((name) => name.bytes),
        names.map(() => newId()),
        names.map((name) => counts.get(name.stream)!),
        events.streams,
        events.below,
        events.ids,
        events.names,
        events.payloads,
        now,
      ],
    ),
  );
  const heads: Heads = new Map();
  for (const row of rows) {
    heads.set(names[Number(row.i) - 1]!.stream, { epoch: row.epoch, head: Number(row.head) });
  }
  return heads;
}
