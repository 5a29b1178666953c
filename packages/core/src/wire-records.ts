import { AssuredError } from "./errors.js";
import type { WirePage, WirePayloads, WireRecord } from "./protocol.js";
import type { EventRecord, Offset, StreamName } from "./types.js";
import { encodeBase64 } from "./wire-base64.js";
import { readWirePage, recordsOf, TIME_BYTES } from "./wire-page-read.js";

/**
 * Records on the wire, in columns (DESIGN §8 "Frames are cheap"; docs/protocol.md "Records on
 * the wire"). A frame's `records` is a `WirePage`: the first offset and the count (offsets are
 * consecutive), every id in one string, the distinct names, and one byte column holding every
 * payload followed by each record's time, id length, name index and payload length. Socket.IO
 * then walks and serializes a handful of values per frame instead of five per record, and the
 * receiver reads the columns in one pass. The column travels
 * - inline, as a base64 string, when it is at most `INLINE_PAYLOADS_MAX_BYTES`: the packet has
 *   no binary attachment, so Socket.IO writes it as one WebSocket frame instead of a text
 *   header plus a binary frame, or
 * - as one binary attachment (larger pages): Socket.IO's parser rejects packets with more than
 *   10 binary attachments, so never one per record.
 */

/** Bytes up to which a frame's byte column (or a message frame's payloads) travels inline, as base64. */
export const INLINE_PAYLOADS_MAX_BYTES = 16 * 1024;

/** How the packers read record `i`'s fields (no object per record). */
interface FieldReader {
  offset(i: number): Offset;
  id(i: number): string;
  name(i: number): string;
  payloadLength(i: number): number;
  time(i: number): number;
}

/** Bytes in a frame (inline base64 text or binary): its wire form for `length` bytes. */
export function toWirePayloads(
  bytes: Uint8Array,
  inlineMaxBytes = INLINE_PAYLOADS_MAX_BYTES,
): WirePayloads {
  return bytes.byteLength <= inlineMaxBytes ? encodeBase64(bytes) : bytes;
}

/** The wire form of records (consecutive, in offset order) for a batch frame or a page. */
export function packRecords(
  records: readonly Omit<EventRecord, "stream">[],
  inlineMaxBytes = INLINE_PAYLOADS_MAX_BYTES,
): WirePage {
  let total = 0;
  for (const record of records) total += record.payload.byteLength;
  return packColumns(
    records.length,
    {
      offset: (i) => records[i]!.offset,
      id: (i) => records[i]!.id,
      name: (i) => records[i]!.name,
      payloadLength: (i) => records[i]!.payload.byteLength,
      time: (i) => records[i]!.time,
    },
    total,
    (column) => {
      // Each payload copied once, straight into the column.
      let at = 0;
      for (const record of records) {
        column.set(record.payload, at);
        at += record.payload.byteLength;
      }
    },
    inlineMaxBytes,
  );
}

/**
 * The wire form of a page a store packed (`EventStore.readPacked`: `[offset, id, name, length,
 * time]` records and their payloads concatenated): the payload bytes are copied once more, into
 * the frame's column.
 */
export function packWireRecords(
  records: readonly WireRecord[],
  payloads: Uint8Array,
  inlineMaxBytes = INLINE_PAYLOADS_MAX_BYTES,
): WirePage {
  return packColumns(
    records.length,
    {
      offset: (i) => records[i]![0],
      id: (i) => records[i]![1],
      name: (i) => records[i]![2],
      payloadLength: (i) => records[i]![3],
      time: (i) => records[i]![4],
    },
    payloads.byteLength,
    (column) => column.set(payloads, 0),
    inlineMaxBytes,
  );
}

/** The bytes of an unsigned varint of `value` (7 bits per byte). */
function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Packs `count` records read through `read`; `writePayloads` puts their `payloadBytes` at the column's start. */
function packColumns(
  count: number,
  read: FieldReader,
  payloadBytes: number,
  writePayloads: (column: Uint8Array) => void,
  inlineMaxBytes: number,
): WirePage {
  const first = count === 0 ? 0 : read.offset(0);
  const names: string[] = [];
  const nameIndex = new Map<string, number>();
  const indexes = new Uint32Array(count);
  const ids: string[] = new Array(count);
  let size = payloadBytes;
  for (let i = 0; i < count; i++) {
    if (read.offset(i) !== first + i) {
      // The wire carries only the first offset: a page that skips one would be misnumbered.
      throw new AssuredError(
        "STORE_CORRUPT",
        `records to send are not consecutive: offset ${read.offset(i)} follows ${first + i - 1}.`,
      );
    }
    const id = read.id(i);
    const name = read.name(i);
    ids[i] = id;
    let index = nameIndex.get(name);
    if (index === undefined) {
      index = names.length;
      names.push(name);
      nameIndex.set(name, index);
    }
    indexes[i] = index;
    size +=
      TIME_BYTES + varintSize(id.length) + varintSize(index) + varintSize(read.payloadLength(i));
  }
  const column = new Uint8Array(size);
  writePayloads(column);
  const view = new DataView(column.buffer);
  let at = payloadBytes;
  const varint = (value: number) => {
    while (value >= 128) {
      column[at++] = (value % 128) | 128;
      value = Math.floor(value / 128);
    }
    column[at++] = value;
  };
  for (let i = 0; i < count; i++) {
    view.setFloat64(at, read.time(i), true);
    at += TIME_BYTES;
    varint(read.id(i).length);
    varint(indexes[i]!);
    varint(read.payloadLength(i));
  }
  return {
    first,
    count,
    bytes: payloadBytes,
    ids: ids.join(""),
    names,
    columns: toWirePayloads(column, inlineMaxBytes),
  };
}

/** Records unpacked from a frame, and the bytes of all their payloads (each a view of them). */
export interface UnpackedRecords {
  records: EventRecord[];
  /** Every payload of the page, concatenated in record order. */
  payloads: Uint8Array;
}

/**
 * Reads a frame's `records` (a `WirePage`, see above) back into records of `stream`
 * (`readWirePage`, `recordsOf`).
 * @throws AssuredError `BAD_FRAME` when the page is malformed in any way.
 */
export function unpackRecords(stream: StreamName, wire: unknown): UnpackedRecords {
  const page = readWirePage(wire);
  return { records: recordsOf(stream, page), payloads: page.payloads };
}
