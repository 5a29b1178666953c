import { AssuredError } from "./errors.js";
import type { EventRecord, Offset, StreamName } from "./types.js";
import { MAX_ID_LENGTH, MAX_READ_LIMIT } from "./validate.js";
import { decodeBase64Text } from "./wire-base64.js";

/**
 * The receiving side of records on the wire (`WirePage`, see `wire-records.ts` and
 * docs/protocol.md "Records on the wire"): a page read and checked in one pass over its columns,
 * then its records made, each payload a view of the page's bytes.
 */

/** Bytes of a record's time in the column (a little-endian float64). */
export const TIME_BYTES = 8;
/** Varint bytes at most: 7 bits each, enough for any length or index a page can hold. */
const MAX_VARINT_BYTES = 5;

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

/**
 * Where a record received in a page keeps its payload decoded with the page (see
 * `decodeRecord` in `sequencer-input.ts`): a symbol key, so the record's own fields stay those of
 * an `EventRecord`; set when the record is made, so it costs no second object shape (a WeakMap
 * instead costs the garbage collector a pass over its entries, measured at a quarter of a
 * catch-up's time).
 */
export const DECODED = Symbol("assured.decoded");

/** A page read from the wire and checked, before its records are made (`readWirePage`). */
export interface WirePageColumns {
  first: Offset;
  count: number;
  ids: string;
  names: readonly string[];
  /** Every payload, concatenated in record order. */
  payloads: Uint8Array;
  times: Float64Array;
  idLengths: Uint32Array;
  nameIndexes: Uint32Array;
  /** Each record's payload length (an array: `decodeConcatenated` takes it as is). */
  lengths: number[];
}

/**
 * Reads and checks a frame's `records` (a `WirePage`, see above): offsets above 0 and
 * consecutive, ids and names non-empty and within limits, at most `MAX_READ_LIMIT` records,
 * every length adding up exactly.
 * @throws AssuredError `BAD_FRAME` when the page is malformed in any way.
 */
export function readWirePage(wire: unknown): WirePageColumns {
  if (typeof wire !== "object" || wire === null || Array.isArray(wire)) {
    badFrame("records must be an object { first, count, bytes, ids, names, columns }.");
  }
  const { first, count, bytes, ids, names, columns } = wire as Record<string, unknown>;
  if (
    !isCount(count, MAX_READ_LIMIT) ||
    // The last offset, first + count - 1, is a safe integer; an empty page starts at 0.
    !isCount(first, Number.MAX_SAFE_INTEGER - count + 1) ||
    (count > 0 ? first === 0 : first !== 0) ||
    !isCount(bytes, Number.MAX_SAFE_INTEGER) ||
    typeof ids !== "string" ||
    !Array.isArray(names) ||
    names.length > count ||
    !names.every(isText) ||
    new Set(names).size !== names.length
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
  const times = new Float64Array(count);
  const idLengths = new Uint32Array(count);
  const nameIndexes = new Uint32Array(count);
  const lengths: number[] = new Array(count);
  let idTotal = 0;
  let payloadTotal = 0;
  // Names are listed in order of first use: one page, one encoding.
  let namesUsed = 0;
  for (let i = 0; i < count; i++) {
    if (at + TIME_BYTES > end) badFrame("records' columns are too short.");
    const time = view.getFloat64(at, true);
    at += TIME_BYTES;
    const idLength = varint();
    const nameIndex = varint();
    const length = varint();
    idTotal += idLength;
    payloadTotal += length;
    if (
      !Number.isFinite(time) ||
      idLength === 0 ||
      idLength > MAX_ID_LENGTH * 2 ||
      idTotal > ids.length ||
      nameIndex > namesUsed ||
      nameIndex >= names.length ||
      payloadTotal > bytes
    ) {
      badFrame("a record's time, id, name or payload length does not fit the page.");
    }
    if (nameIndex === namesUsed) namesUsed++;
    times[i] = time;
    idLengths[i] = idLength;
    nameIndexes[i] = nameIndex;
    lengths[i] = length;
  }
  if (
    at !== end ||
    idTotal !== ids.length ||
    payloadTotal !== bytes ||
    namesUsed !== names.length
  ) {
    badFrame("records' columns, ids or payloads are longer than the records.");
  }
  return {
    first,
    count,
    ids,
    names: names as string[],
    payloads: column.subarray(0, bytes),
    times,
    idLengths,
    nameIndexes,
    lengths,
  };
}

/**
 * The records of a checked page, of `stream`; each payload a view of the page's bytes (no copy
 * per record). With `decoded`, record `i` carries `decoded[i]` under `DECODED` (those past its
 * end carry nothing: they are decoded at their turn).
 */
export function recordsOf(
  stream: StreamName,
  page: WirePageColumns,
  decoded?: readonly unknown[],
): EventRecord[] {
  const { first, count, ids, names, payloads, times, idLengths, nameIndexes, lengths } = page;
  const out: EventRecord[] = new Array(count);
  const withValues = decoded?.length ?? 0;
  let idAt = 0;
  let payloadAt = 0;
  for (let i = 0; i < count; i++) {
    const id = ids.slice(idAt, idAt + idLengths[i]!);
    const name = names[nameIndexes[i]!]!;
    const payload = payloads.subarray(payloadAt, payloadAt + lengths[i]!);
    idAt += idLengths[i]!;
    payloadAt += lengths[i]!;
    out[i] =
      i < withValues
        ? ({
            stream,
            offset: first + i,
            id,
            name,
            payload,
            time: times[i]!,
            [DECODED]: decoded![i],
          } as EventRecord)
        : { stream, offset: first + i, id, name, payload, time: times[i]! };
  }
  return out;
}
