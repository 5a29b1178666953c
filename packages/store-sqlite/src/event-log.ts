import type { EventRecord, Offset } from "@assured/core";
import type {
  AppendEntry,
  AppendResult,
  Clock,
  PackedPage,
  ReadResult,
  Retention,
  StreamHead,
} from "@assured/core/store";
import { newId } from "@assured/core/store";
import type Database from "better-sqlite3";
import {
  PAGE_COLUMNS_SQL,
  type PageColumns,
  type PageRow,
  packColumns,
  packRows,
  pageColumnsBound,
} from "./packed-page.js";

/** One queued write: an append of entries, or a reset. */
export type LogWrite =
  | { kind: "append"; stream: string; entries: readonly AppendEntry[] }
  | { kind: "reset"; stream: string };

/** The result of a `LogWrite`, in the same order. */
export type LogWriteResult = AppendResult[] | StreamHead;

interface StreamRow {
  streamId: number;
  epoch: string;
  head: number;
}

interface TouchedStream extends StreamRow {
  /** The head as stored, to write it back only when it moved. */
  storedHead: number;
}

/**
 * Ids for entries appended without one: a random 126-bit prefix per group write and a counter.
 * Unique like `newId()`, but the ids of one group sort together, so inserting them touches a
 * few index pages instead of one random page each (about 3× faster group commits).
 */
class GeneratedIds {
  private readonly prefix = `${newId()}.`;
  private count = 0;

  next(): string {
    return this.prefix + (this.count++).toString(36);
  }
}

const NO_LOG: StreamHead = { epoch: "", head: 0, earliest: 1 };

function toBytes(payload: Uint8Array): Buffer {
  if (Buffer.isBuffer(payload)) return payload;
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

function fromBytes(blob: Buffer): Uint8Array {
  return new Uint8Array(blob.buffer, blob.byteOffset, blob.byteLength);
}

/**
 * The event log's SQL, synchronous, on prepared statements. Writes run inside one
 * `BEGIN IMMEDIATE` transaction per group (`writeGroup`): the write lock is taken before a
 * head is read, so offsets are allocated consecutively even with other connections and
 * processes appending, and a commit makes a whole group visible at once (prefix visibility).
 * Reads run in one read transaction so the state and the records are one snapshot.
 */
export class EventLog {
  private readonly statements;
  /**
   * The database's text is UTF-8, so `group_concat` copies payload bytes unchanged and a page
   * can be read as columns (`PAGE_COLUMNS_SQL`); in a UTF-16 database pages are read as rows.
   */
  private readonly payloadsConcatenate: boolean;
  /** Writes a group of operations in one immediate transaction. */
  readonly writeGroup: (writes: readonly LogWrite[]) => LogWriteResult[];
  /** Reads a page of a stream in one read transaction. */
  readonly read: (stream: string, after: Offset, limit: number) => ReadResult;
  /** Reads a page packed for the wire (`EventStore.readPacked`) in one read transaction. */
  readonly readPacked: (
    stream: string,
    after: Offset,
    limit: number,
    maxBytes: number,
  ) => PackedPage;
  /** Reads a stream's state in one read transaction. */
  readonly head: (stream: string) => StreamHead;
  /**
   * Applies retention to at most `limit` streams whose id is above `afterStreamId`, in one
   * write transaction; returns the last stream id visited (0 when there are no more) and how
   * many events were deleted. Sweeps streams that get no appends.
   */
  readonly trimStreams: (
    afterStreamId: number,
    limit: number,
  ) => { lastStreamId: number; deleted: number };

  constructor(
    db: Database.Database,
    private readonly clock: Clock,
    private readonly retention: Retention,
  ) {
    this.payloadsConcatenate = db.pragma("encoding", { simple: true }) === "UTF-8";
    this.statements = {
      stream: db.prepare<[string], StreamRow>(
        "SELECT stream_id AS streamId, epoch, head FROM assured_streams WHERE stream_name = ?",
      ),
      createStream: db.prepare<[string, string]>(
        "INSERT INTO assured_streams (stream_name, epoch, head) VALUES (?, ?, 0)",
      ),
      setHead: db.prepare<[number, number]>(
        "UPDATE assured_streams SET head = ? WHERE stream_id = ?",
      ),
      newEpoch: db.prepare<[string, number]>(
        "UPDATE assured_streams SET epoch = ?, head = 0 WHERE stream_id = ?",
      ),
      insertEvent: db.prepare<[number, number, string, string, Buffer, number]>(
        "INSERT INTO assured_events " +
          "(stream_id, event_offset, event_id, event_name, payload, appended_at) " +
          "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (stream_id, event_id) DO NOTHING",
      ),
      offsetOfId: db
        .prepare<[number, string], number>(
          "SELECT event_offset FROM assured_events WHERE stream_id = ? AND event_id = ?",
        )
        .pluck(),
      firstFrom: db
        .prepare<[number, number], number | null>(
          "SELECT min(event_offset) FROM assured_events WHERE stream_id = ? AND event_offset >= ?",
        )
        .pluck(),
      firstFromSince: db
        .prepare<[number, number, number], number>(
          "SELECT event_offset FROM assured_events " +
            "WHERE stream_id = ? AND event_offset >= ? AND appended_at >= ? " +
            "ORDER BY event_offset LIMIT 1",
        )
        .pluck(),
      deleteBefore: db.prepare<[number, number]>(
        "DELETE FROM assured_events WHERE stream_id = ? AND event_offset < ?",
      ),
      deleteAll: db.prepare<[number]>("DELETE FROM assured_events WHERE stream_id = ?"),
      streamsAfter: db.prepare<[number, number], Omit<StreamRow, "epoch">>(
        "SELECT stream_id AS streamId, head FROM assured_streams WHERE stream_id > ? " +
          "ORDER BY stream_id LIMIT ?",
      ),
      pageColumns: db
        .prepare<[number, number, number, number], PageColumns>(PAGE_COLUMNS_SQL)
        .raw(),
      page: db
        .prepare<[number, number, number], PageRow>(
          "SELECT event_offset, event_id, event_name, payload, appended_at FROM assured_events " +
            "WHERE stream_id = ? AND event_offset >= ? ORDER BY event_offset LIMIT ?",
        )
        .raw(),
    };
    this.writeGroup = db.transaction((writes: readonly LogWrite[]) =>
      this.applyWrites(writes),
    ).immediate;
    this.read = db.transaction((stream: string, after: Offset, limit: number) =>
      this.readPage(stream, after, limit),
    ).deferred;
    this.readPacked = db.transaction(
      (stream: string, after: Offset, limit: number, maxBytes: number) =>
        this.readPackedPage(stream, after, limit, maxBytes),
    ).deferred;
    this.head = db.transaction((stream: string) => this.readHead(stream)).deferred;
    this.trimStreams = db.transaction((afterStreamId: number, limit: number) =>
      this.trimStreamsAfter(afterStreamId, limit),
    ).immediate;
  }

  private trimStreamsAfter(afterStreamId: number, limit: number) {
    const now = this.clock();
    const streams = this.statements.streamsAfter.all(afterStreamId, limit);
    let deleted = 0;
    for (const { streamId, head } of streams) {
      const earliest = this.earliest(streamId, head, now);
      deleted += this.statements.deleteBefore.run(streamId, earliest).changes;
    }
    const last = streams.length < limit ? 0 : streams[streams.length - 1]!.streamId;
    return { lastStreamId: last, deleted };
  }

  /**
   * The oldest retained offset of a stream whose newest is `head`: the first stored offset
   * within `maxLength` of the head and not older than `maxAgeMs`; `head + 1` if none is.
   */
  private earliest(streamId: number, head: number, now: number): Offset {
    const { maxLength, maxAgeMs } = this.retention;
    const floor = maxLength === undefined ? 1 : Math.max(1, head - maxLength + 1);
    const first =
      maxAgeMs === undefined
        ? this.statements.firstFrom.get(streamId, floor)
        : this.statements.firstFromSince.get(streamId, floor, now - maxAgeMs);
    return first ?? head + 1;
  }

  /** Deletes what retention no longer keeps; events are only ever trimmed from the front. */
  private trim(stream: StreamRow, now: number): void {
    if (this.retention.maxLength === undefined && this.retention.maxAgeMs === undefined) return;
    this.statements.deleteBefore.run(
      stream.streamId,
      this.earliest(stream.streamId, stream.head, now),
    );
  }

  private touch(touched: Map<string, TouchedStream>, stream: string, now: number): TouchedStream {
    const known = touched.get(stream);
    if (known !== undefined) return known;
    let row = this.statements.stream.get(stream);
    if (row === undefined) {
      const epoch = newId();
      const { lastInsertRowid } = this.statements.createStream.run(stream, epoch);
      row = { streamId: Number(lastInsertRowid), epoch, head: 0 };
    } else {
      // Trim first, so an id whose event has expired is no longer a duplicate.
      this.trim(row, now);
    }
    const state = { ...row, storedHead: row.head };
    touched.set(stream, state);
    return state;
  }

  /**
   * Applies writes inside the transaction the caller holds on this log's connection (`writeGroup`
   * wraps it in its own; transactional publish runs it in the application's).
   */
  applyWrites(writes: readonly LogWrite[]): LogWriteResult[] {
    const now = this.clock();
    const touched = new Map<string, TouchedStream>();
    const ids = new GeneratedIds();
    const results = writes.map((write) => {
      const stream = this.touch(touched, write.stream, now);
      return write.kind === "append"
        ? this.appendEntries(stream, write.entries, now, ids)
        : this.resetStream(stream);
    });
    for (const stream of touched.values()) {
      if (stream.head !== stream.storedHead) {
        this.statements.setHead.run(stream.head, stream.streamId);
      }
      this.trim(stream, now);
    }
    return results;
  }

  private appendEntries(
    stream: TouchedStream,
    entries: readonly AppendEntry[],
    now: number,
    ids: GeneratedIds,
  ): AppendResult[] {
    return entries.map((entry) => {
      const id = entry.id ?? ids.next();
      const offset = stream.head + 1;
      const { changes } = this.statements.insertEvent.run(
        stream.streamId,
        offset,
        id,
        entry.name,
        toBytes(entry.payload),
        now,
      );
      if (changes === 0) {
        const original = this.statements.offsetOfId.get(stream.streamId, id)!;
        return { offset: original, id, duplicate: true, epoch: stream.epoch };
      }
      stream.head = offset;
      return { offset, id, duplicate: false, epoch: stream.epoch };
    });
  }

  private resetStream(stream: TouchedStream): StreamHead {
    const epoch = newId();
    this.statements.deleteAll.run(stream.streamId);
    this.statements.newEpoch.run(epoch, stream.streamId);
    stream.epoch = epoch;
    stream.head = 0;
    stream.storedHead = 0;
    return { epoch, head: 0, earliest: 1 };
  }

  private readHead(stream: string): StreamHead {
    const row = this.statements.stream.get(stream);
    if (row === undefined) return { ...NO_LOG };
    return {
      epoch: row.epoch,
      head: row.head,
      earliest: this.earliest(row.streamId, row.head, this.clock()),
    };
  }

  private readPage(stream: string, after: Offset, limit: number): ReadResult {
    const row = this.statements.stream.get(stream);
    if (row === undefined) return { ...NO_LOG, records: [] };
    const { earliest, rows } = this.pageRows(row, after, limit);
    const records = rows.map(
      ([offset, id, name, payload, time]): EventRecord => ({
        stream,
        offset,
        id,
        name,
        payload: fromBytes(payload),
        time,
      }),
    );
    return { epoch: row.epoch, head: row.head, earliest, records };
  }

  private readPackedPage(
    stream: string,
    after: Offset,
    limit: number,
    maxBytes: number,
  ): PackedPage {
    const row = this.statements.stream.get(stream);
    if (row === undefined) return { ...NO_LOG, records: [], payloads: new Uint8Array(0) };
    const earliest = this.earliest(row.streamId, row.head, this.clock());
    const from = Math.max(after + 1, earliest);
    const head = { epoch: row.epoch, head: row.head, earliest };
    if (from > row.head) return { ...head, records: [], payloads: new Uint8Array(0) };
    let columns: PageColumns | undefined;
    if (this.payloadsConcatenate) {
      try {
        const bound = pageColumnsBound(maxBytes);
        columns = this.statements.pageColumns.get(bound, row.streamId, from, limit);
      } catch {
        // SQLite refuses a value past its longest (1e9 bytes): rows of huge payloads.
        columns = undefined;
      }
    }
    const packed = columns === undefined ? undefined : packColumns(columns, maxBytes);
    if (packed !== undefined) return { ...head, ...packed };
    const rows = this.statements.page.all(row.streamId, from, limit);
    return { ...head, ...packRows(rows, maxBytes) };
  }

  /** The stream's earliest retained offset and its rows from `max(after + 1, earliest)`. */
  private pageRows(
    row: StreamRow,
    after: Offset,
    limit: number,
  ): { earliest: Offset; rows: PageRow[] } {
    const earliest = this.earliest(row.streamId, row.head, this.clock());
    const from = Math.max(after + 1, earliest);
    const rows = from > row.head ? [] : this.statements.page.all(row.streamId, from, limit);
    return { earliest, rows };
  }
}
