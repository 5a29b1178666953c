import { AssuredError } from "./errors.js";
import type { WirePage, WirePayloads, WireRecord } from "./protocol.js";
import type { EventRecord, Offset, StreamName } from "./types.js";
import { MAX_ID_LENGTH, MAX_READ_LIMIT } from "./validate.js";
import { decodeBase64Text, encodeBase64 } from "./wire-base64.js";

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

/** Bytes of a record's time in the column (a little-endian float64: any store's clock, exactly). */
const TIME_BYTES = 8;
/** Varint bytes at most: 7 bits each, enough for any length or index a page can hold. */
const MAX_VARINT_BYTES = 5;

/** A record's fields as the packers read them. */
interface RecordFields {
  offset: Offset;
  id: string;
  name: string;
  payloadLength: number;
  time: number;
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
  const payloads = new Uint8Array(total);
  let at = 0;
  for (const record of records) {
    payloads.set(record.payload, at);
    at += record.payload.byteLength;
  }
  return packColumns(
    records.length,
    (i) => {
      const r = records[i]!;
      return {
        offset: r.offset,
        id: r.id,
        name: r.name,
        payloadLength: r.payload.byteLength,
        time: r.time,
      };
    },
    payloads,
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
    (i) => {
      const [offset, id, name, payloadLength, time] = records[i]!;
      return { offset, id, name, payloadLength, time };
    },
    payloads,
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

function packColumns(
  count: number,
  fieldsAt: (i: number) => RecordFields,
  payloads: Uint8Array,
  inlineMaxBytes: number,
): WirePage {
  const names: string[] = [];
  const nameIndex = new Map<string, number>();
  const ids: string[] = new Array(count);
  const fields: RecordFields[] = new Array(count);
  const indexes: number[] = new Array(count);
  let size = payloads.byteLength;
  for (let i = 0; i < count; i++) {
    const f = fieldsAt(i);
    fields[i] = f;
    ids[i] = f.id;
    let index = nameIndex.get(f.name);
    if (index === undefined) {
      index = names.length;
      names.push(f.name);
      nameIndex.set(f.name, index);
    }
    indexes[i] = index;
    size += TIME_BYTES + varintSize(f.id.length) + varintSize(index) + varintSize(f.payloadLength);
  }
  const column = new Uint8Array(size);
  column.set(payloads, 0);
  const view = new DataView(column.buffer);
  let at = payloads.byteLength;
  const varint = (value: number) => {
    while (value >= 128) {
      column[at++] = (value % 128) | 128;
      value = Math.floor(value / 128);
    }
    column[at++] = value;
  };
  for (let i = 0; i < count; i++) {
    const f = fields[i]!;
    view.setFloat64(at, f.time, true);
    at += TIME_BYTES;
    varint(f.id.length);
    varint(indexes[i]!);
    varint(f.payloadLength);
  }
  return {
    first: count === 0 ? 0 : fields[0]!.offset,
    count,
    bytes: payloads.byteLength,
    ids: ids.join(""),
    names,
    columns: toWirePayloads(column, inlineMaxBytes),
  };
}

/** Binary attachments arrive as Buffer in Node and as ArrayBuffer in browsers: a plain view. */
function toBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) {
    if (value.byteLength !== value.buffer.byteLength) {
      // A view of a larger buffer (Node's socket reads): one copy per frame, so records kept
      // until delivery do not keep the rest of that buffer alive.
      return new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice();
    }
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  return undefined;
}

function badFrame(message: string): never {
  throw new AssuredError("BAD_FRAME", message);
}

function isCount(value: unknown, max: number): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 && value <= max;
}

function isText(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_ID_LENGTH * 2;
}

/** Records unpacked from a frame, and the bytes of all their payloads (each a view of them). */
export interface UnpackedRecords {
  records: EventRecord[];
  /** Every payload of the page, concatenated in record order. */
  payloads: Uint8Array;
}

/**
 * Reads a frame's `records` (a `WirePage`, see above) back into records of `stream`: offsets
 * above 0 and consecutive, ids and names non-empty and within limits, at most
 * `MAX_READ_LIMIT` records; each payload is a view of one buffer per frame (no copy per record).
 * @throws AssuredError `BAD_FRAME` when the page is malformed in any way.
 */
export function unpackRecords(stream: StreamName, wire: unknown): UnpackedRecords {
  if (typeof wire !== "object" || wire === null || Array.isArray(wire)) {
    badFrame("records must be an object { first, count, bytes, ids, names, columns }.");
  }
  const { first, count, bytes, ids, names, columns } = wire as Record<string, unknown>;
  if (
    !isCount(count, MAX_READ_LIMIT) ||
    !isCount(first, Number.MAX_SAFE_INTEGER - count) ||
    (count > 0 && first === 0) ||
    !isCount(bytes, Number.MAX_SAFE_INTEGER) ||
    typeof ids !== "string" ||
    !Array.isArray(names) ||
    names.length > count ||
    !names.every(isText)
  ) {
    badFrame("records have wrong field types.");
  }
  const column = typeof columns === "string" ? decodeBase64Text(columns) : toBytes(columns);
  if (column === undefined) {
    badFrame("records' columns must be canonical padded base64 text or binary.");
  }
  if (bytes > column.byteLength) badFrame("records' columns are shorter than their payloads.");
  const view = new DataView(column.buffer, column.byteOffset, column.byteLength);
  const end = column.byteLength;
  let at = bytes;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (let n = 0; n < MAX_VARINT_BYTES && at < end; n++) {
      const byte = column[at++]!;
      value += (byte & 127) * scale;
      // The shortest form only (no trailing zero group): one page, one encoding.
      if (byte < 128)
        return byte === 0 && n > 0 ? badFrame("records' columns hold a padded length.") : value;
      scale *= 128;
    }
    return badFrame("records' columns hold a malformed length.");
  };
  const out: EventRecord[] = new Array(count);
  let idAt = 0;
  let payloadAt = 0;
  for (let i = 0; i < count; i++) {
    if (at + TIME_BYTES > end) badFrame("records' columns are too short.");
    const time = view.getFloat64(at, true);
    at += TIME_BYTES;
    const idLength = varint();
    const nameIndex = varint();
    const length = varint();
    if (
      !Number.isFinite(time) ||
      idLength === 0 ||
      idLength > MAX_ID_LENGTH * 2 ||
      idAt + idLength > ids.length ||
      nameIndex >= names.length ||
      payloadAt + length > bytes
    ) {
      badFrame("a record's time, id, name or payload length does not fit the page.");
    }
    out[i] = {
      stream,
      offset: first + i,
      id: ids.slice(idAt, idAt + idLength),
      name: names[nameIndex] as string,
      payload: column.subarray(payloadAt, payloadAt + length),
      time,
    };
    idAt += idLength;
    payloadAt += length;
  }
  if (at !== end || idAt !== ids.length || payloadAt !== bytes) {
    badFrame("records' columns, ids or payloads are longer than the records.");
  }
  return { records: out, payloads: column.subarray(0, bytes) };
}

/** The payload bytes wire records (`[offset, id, name, length, time]`) announce (their lengths added up). */
export function wirePayloadBytes(records: readonly WireRecord[]): number {
  let total = 0;
  for (const record of records) total += record[3];
  return total;
}
