import {
  type AppendEntry,
  type AppendResult,
  newId,
  type Retention,
  type StreamHead,
} from "@assured/core/store";
import type { ClientBase } from "pg";
import { bytesText, payloadBytes, textBytes } from "./bytes.js";
import { earliestSql, retentionParams } from "./earliest-sql.js";
import type { Tables } from "./tables.js";

/** One queued write: an append of entries, or a reset. */
export type LogWrite =
  | { kind: "append"; stream: string; entries: readonly AppendEntry[] }
  | { kind: "reset"; stream: string };

/** The result of a `LogWrite`, in the same order. */
export type LogWriteResult = AppendResult[] | StreamHead;

/** A touched stream during a group: its locked row, then the state the group leaves. */
interface StreamState {
  streamId: string;
  epoch: string;
  head: number;
  /** True once the group reset it: its stored events are deleted, its stored ids forgotten. */
  reset: boolean;
  changed: boolean;
  /** Ids appended by this group since the last reset, with their offsets. */
  groupIds: Map<string, number>;
}

interface NewEvent {
  stream: StreamState;
  offset: number;
  id: string;
  name: string;
  payload: Uint8Array;
}

/**
 * Ids for entries appended without one: a random prefix per group and a counter — unique like
 * `newId()`, but one group's ids sort together in the id index.
 */
export class GeneratedIds {
  private readonly prefix = `${newId()}.`;
  private count = 0;

  next(): string {
    return this.prefix + (this.count++).toString(36);
  }
}

/**
 * Writes a group of appends and resets in the open transaction of `client` (the store's own
 * group commit, or the application's transaction in `appendInTransaction`), in a fixed number
 * of statements whatever the group's size:
 *
 * 1. Lock every touched stream's row (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, in byte
 *    order of the names so two groups never deadlock), creating a missing one with its epoch.
 *    The row lock is held until commit: appenders of a stream on any connection, process or
 *    node queue behind it, so each reads the head the previous one committed (gapless
 *    offsets), and a group that took offsets after another's can only commit after it, so no
 *    reader's snapshot holds offset n + 1 without n (prefix visibility).
 * 2. Trim what retention no longer keeps, before duplicates are looked for (trimmed ids).
 * 3. Look up the given ids among the retained events.
 * 4. Assign offsets in order (duplicates within the group and against the stored ids), then
 *    delete the events of reset streams, insert the new events and write the heads and epochs.
 */
export async function writeGroup(
  client: ClientBase,
  t: Tables,
  writes: readonly LogWrite[],
  now: number,
  retention: Retention,
): Promise<LogWriteResult[]> {
  const streams = await lockStreams(client, t, writes);
  if (retention.maxLength !== undefined || retention.maxAgeMs !== undefined) {
    await trim(client, t, [...streams.values()], now, retention);
  }
  const stored = await storedIds(client, t, writes, streams);
  const ids = new GeneratedIds();
  const events: NewEvent[] = [];
  const results = writes.map((write): LogWriteResult => {
    const stream = streams.get(write.stream)!;
    if (write.kind === "reset") {
      stream.epoch = newId();
      stream.head = 0;
      stream.reset = true;
      stream.changed = true;
      stream.groupIds.clear();
      for (let i = events.length - 1; i >= 0; i--) {
        if (events[i]!.stream === stream) events.splice(i, 1);
      }
      return { epoch: stream.epoch, head: 0, earliest: 1 };
    }
    return write.entries.map((entry): AppendResult => {
      const id = entry.id ?? ids.next();
      const earlier =
        stream.groupIds.get(id) ??
        (stream.reset ? undefined : stored.get(idKey(stream.streamId, id)));
      if (earlier !== undefined) {
        return { offset: earlier, id, duplicate: true, epoch: stream.epoch };
      }
      const offset = ++stream.head;
      stream.changed = true;
      stream.groupIds.set(id, offset);
      events.push({ stream, offset, id, name: entry.name, payload: entry.payload });
      return { offset, id, duplicate: false, epoch: stream.epoch };
    });
  });
  await store(client, t, [...streams.values()], events, now);
  return results;
}

function idKey(streamId: string, id: string): string {
  return `${streamId}\u0000${id}`;
}

async function lockStreams(
  client: ClientBase,
  t: Tables,
  writes: readonly LogWrite[],
): Promise<Map<string, StreamState>> {
  const names = [...new Set(writes.map((write) => write.stream))]
    .map((stream) => ({ stream, bytes: textBytes(stream) }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  const { rows } = await client.query<{
    stream_id: string;
    stream_name: Buffer;
    epoch: string;
    head: string;
  }>(
    t.sql.query(
      `INSERT INTO ${t.streams} AS s (stream_name, epoch, head) ` +
        "SELECT n, e, 0 FROM unnest($1::bytea[], $2::text[]) WITH ORDINALITY AS x(n, e, i) ORDER BY i " +
        "ON CONFLICT (stream_name) DO UPDATE SET head = s.head " +
        "RETURNING s.stream_id, s.stream_name, s.epoch, s.head",
      [names.map((name) => name.bytes), names.map(() => newId())],
    ),
  );
  const streams = new Map<string, StreamState>();
  for (const row of rows) {
    streams.set(bytesText(row.stream_name), {
      streamId: row.stream_id,
      epoch: row.epoch,
      head: Number(row.head),
      reset: false,
      changed: false,
      groupIds: new Map(),
    });
  }
  return streams;
}

async function trim(
  client: ClientBase,
  t: Tables,
  streams: readonly StreamState[],
  now: number,
  retention: Retention,
): Promise<void> {
  await client.query(
    t.sql.replanned(
      `DELETE FROM ${t.events} d USING (SELECT x.stream_id, ${earliestSql(t.events, "x", 3, 4)} AS earliest ` +
        "FROM unnest($1::bigint[], $2::bigint[]) AS x(stream_id, head)) k " +
        "WHERE d.stream_id = k.stream_id AND d.event_offset < k.earliest",
      [
        streams.map((stream) => stream.streamId),
        streams.map((stream) => stream.head),
        ...retentionParams(retention, now),
      ],
    ),
  );
}

async function storedIds(
  client: ClientBase,
  t: Tables,
  writes: readonly LogWrite[],
  streams: Map<string, StreamState>,
): Promise<Map<string, number>> {
  const wanted = new Map<string, { streamId: string; id: string }>();
  for (const write of writes) {
    if (write.kind !== "append") continue;
    const { streamId } = streams.get(write.stream)!;
    for (const entry of write.entries) {
      if (entry.id !== undefined) wanted.set(idKey(streamId, entry.id), { streamId, id: entry.id });
    }
  }
  const found = new Map<string, number>();
  if (wanted.size === 0) return found;
  const lookups = [...wanted.values()];
  const { rows } = await client.query<{
    stream_id: string;
    event_id: Buffer;
    event_offset: string;
  }>(
    t.sql.replanned(
      `SELECT e.stream_id, e.event_id, e.event_offset FROM ${t.events} e ` +
        "JOIN unnest($1::bigint[], $2::bytea[]) AS q(stream_id, event_id) " +
        "ON e.stream_id = q.stream_id AND e.event_id = q.event_id",
      [lookups.map((l) => l.streamId), lookups.map((l) => textBytes(l.id))],
    ),
  );
  for (const row of rows) {
    found.set(idKey(row.stream_id, bytesText(row.event_id)), Number(row.event_offset));
  }
  return found;
}

async function store(
  client: ClientBase,
  t: Tables,
  streams: readonly StreamState[],
  events: readonly NewEvent[],
  now: number,
): Promise<void> {
  const resets = streams.filter((stream) => stream.reset).map((stream) => stream.streamId);
  if (resets.length > 0) {
    await client.query(
      t.sql.query(`DELETE FROM ${t.events} WHERE stream_id = ANY($1::bigint[])`, [resets]),
    );
  }
  if (events.length > 0) {
    await client.query(
      t.sql.query(
        `INSERT INTO ${t.events} (stream_id, event_offset, event_id, event_name, payload, appended_at) ` +
          "SELECT s, o, i, n, p, $6::double precision " +
          "FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[], $5::bytea[]) AS x(s, o, i, n, p)",
        [
          events.map((event) => event.stream.streamId),
          events.map((event) => event.offset),
          events.map((event) => textBytes(event.id)),
          events.map((event) => textBytes(event.name)),
          events.map((event) => payloadBytes(event.payload)),
          now,
        ],
      ),
    );
  }
  const changed = streams.filter((stream) => stream.changed);
  if (changed.length > 0) {
    await client.query(
      t.sql.replanned(
        `UPDATE ${t.streams} s SET head = x.head, epoch = x.epoch ` +
          "FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS x(stream_id, head, epoch) " +
          "WHERE s.stream_id = x.stream_id",
        [
          changed.map((stream) => stream.streamId),
          changed.map((stream) => stream.head),
          changed.map((stream) => stream.epoch),
        ],
      ),
    );
  }
}
