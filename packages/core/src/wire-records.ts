import { AssuredError } from "./errors.js";
import type { WirePayloads, WireRecord } from "./protocol.js";
import type { EventRecord, StreamName } from "./types.js";
import { decodeBase64, encodeBase64 } from "./wire-base64.js";

/**
 * Records on the wire. A frame carries `records: [offset, id, name, payloadByteLength, time][]`
 * and `payloads`: every payload concatenated in record order, either
 * - inline, as a base64 string, when they add up to at most `INLINE_PAYLOADS_MAX_BYTES`: the
 *   packet has no binary attachment, so Socket.IO writes it as one WebSocket frame instead of a
 *   text header plus a binary frame (DESIGN §8 "Frames are cheap"), or
 * - one binary attachment (larger pages): one attachment per frame, not one per record, because
 *   Socket.IO's parser rejects packets with more than 10 binary attachments.
 */

/** Payload bytes up to which a frame carries its payloads inline (base64), not as an attachment. */
export const INLINE_PAYLOADS_MAX_BYTES = 16 * 1024;

/** The wire form of records: `{ records, payloads }` for an `assured:batch` or fetch reply. */
export function packRecords(
  records: readonly Omit<EventRecord, "stream">[],
  inlineMaxBytes = INLINE_PAYLOADS_MAX_BYTES,
): {
  records: WireRecord[];
  payloads: WirePayloads;
} {
  let total = 0;
  for (const record of records) total += record.payload.byteLength;
  const payloads = new Uint8Array(total);
  const wire: WireRecord[] = new Array(records.length);
  let at = 0;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    payloads.set(record.payload, at);
    at += record.payload.byteLength;
    wire[i] = [record.offset, record.id, record.name, record.payload.byteLength, record.time];
  }
  return { records: wire, payloads: toWirePayloads(payloads, inlineMaxBytes) };
}

/** A page's concatenated payload bytes in their wire form: inline base64 when small, else binary. */
export function toWirePayloads(
  bytes: Uint8Array,
  inlineMaxBytes = INLINE_PAYLOADS_MAX_BYTES,
): WirePayloads {
  return bytes.byteLength <= inlineMaxBytes ? encodeBase64(bytes) : bytes;
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

/** The sum of the wire records' payload lengths, or -1 when one is not a valid length. */
function lengthsOf(records: readonly unknown[]): number {
  let total = 0;
  for (const item of records) {
    const length = Array.isArray(item) ? (item[3] as unknown) : undefined;
    if (typeof length !== "number" || !Number.isSafeInteger(length) || length < 0) return -1;
    total += length;
  }
  return Number.isSafeInteger(total) ? total : -1;
}

/**
 * Splits a frame's `payloads` (base64 string or binary, see above) back into records of
 * `stream`; each payload is a view of one buffer per frame (no copy per record). Checks only
 * the packing — field types and lengths that add up; the caller checks offsets and names.
 * @throws AssuredError `BAD_FRAME` when the records and payloads do not match.
 */
export function unpackRecords(
  stream: StreamName,
  records: unknown,
  payloads: unknown,
): EventRecord[] {
  if (!Array.isArray(records)) {
    throw new AssuredError("BAD_FRAME", "records must be an array.");
  }
  let bytes: Uint8Array | undefined;
  if (typeof payloads === "string") {
    const total = lengthsOf(records);
    bytes = total < 0 ? undefined : decodeBase64(payloads, total);
    if (bytes === undefined) {
      throw new AssuredError(
        "BAD_FRAME",
        "inline payloads must be the padded base64 of as many bytes as the records' lengths add up to.",
      );
    }
  } else {
    bytes = toBytes(payloads);
    if (bytes === undefined) {
      throw new AssuredError("BAD_FRAME", "payloads must be a base64 string or binary.");
    }
  }
  const out: EventRecord[] = new Array(records.length);
  let at = 0;
  for (let i = 0; i < records.length; i++) {
    const item: unknown = records[i];
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
    out[i] = { stream, offset, id, name, payload: bytes.subarray(at, at + length), time };
    at += length;
  }
  if (at !== bytes.byteLength) {
    throw new AssuredError("BAD_FRAME", "payloads are longer than the records' lengths add up to.");
  }
  return out;
}

/** The payload bytes a frame's wire records announce (their lengths added up). */
export function wirePayloadBytes(records: readonly WireRecord[]): number {
  let total = 0;
  for (const record of records) total += record[3];
  return total;
}
