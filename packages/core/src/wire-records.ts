import { AssuredError } from "./errors.js";
import type { WireRecord } from "./protocol.js";
import type { EventRecord, StreamName } from "./types.js";

/**
 * Records on the wire. A frame carries `records: [offset, id, name, payloadByteLength, time][]`
 * and one binary attachment `payloads`: every payload concatenated in record order. One
 * attachment per frame, not one per record, because Socket.IO's parser rejects packets with
 * more than 10 binary attachments (and one copy per frame is cheaper than N attachments).
 */

/** The wire form of records: `{ records, payloads }` for an `assured:batch` or fetch reply. */
export function packRecords(records: readonly Omit<EventRecord, "stream">[]): {
  records: WireRecord[];
  payloads: Uint8Array;
} {
  let total = 0;
  for (const record of records) total += record.payload.byteLength;
  const payloads = new Uint8Array(total);
  const wire: WireRecord[] = [];
  let at = 0;
  for (const record of records) {
    payloads.set(record.payload, at);
    at += record.payload.byteLength;
    wire.push([record.offset, record.id, record.name, record.payload.byteLength, record.time]);
  }
  return { records: wire, payloads };
}

/** Binary attachments arrive as Buffer in Node and as ArrayBuffer in browsers. */
function toBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  return undefined;
}

/**
 * Splits a frame's `payloads` back into records of `stream` (each payload a copy). Checks only
 * the packing — field types and lengths that add up; the caller checks offsets and names.
 * @throws AssuredError `BAD_FRAME` when the records and payloads do not match.
 */
export function unpackRecords(
  stream: StreamName,
  records: unknown,
  payloads: unknown,
): EventRecord[] {
  const bytes = toBytes(payloads);
  if (!Array.isArray(records) || bytes === undefined) {
    throw new AssuredError("BAD_FRAME", "records must be an array with a binary payloads field.");
  }
  const out: EventRecord[] = [];
  let at = 0;
  for (const item of records) {
    if (!Array.isArray(item) || item.length !== 5) {
      throw new AssuredError(
        "BAD_FRAME",
        "a wire record must be [offset, id, name, length, time].",
      );
    }
    const [offset, id, name, length, time] = item as unknown[];
    if (
      typeof offset !== "number" ||
      typeof id !== "string" ||
      typeof name !== "string" ||
      typeof time !== "number" ||
      typeof length !== "number" ||
      !Number.isSafeInteger(length) ||
      length < 0 ||
      at + length > bytes.byteLength
    ) {
      throw new AssuredError("BAD_FRAME", "a wire record has wrong field types or lengths.");
    }
    out.push({ stream, offset, id, name, payload: bytes.slice(at, at + length), time });
    at += length;
  }
  if (at !== bytes.byteLength) {
    throw new AssuredError("BAD_FRAME", "payloads are longer than the records' lengths add up to.");
  }
  return out;
}
