import { AssuredError, type EventRecord } from "@assured/core";

/**
 * The stored form of one event: `time` (float64 BE) · `idLength` (uint16 BE) · id (UTF-8) ·
 * `nameLength` (uint16 BE) · name (UTF-8) · payload bytes. The append script reads `time` and
 * the id from the front (retention by age, forgetting trimmed ids), so this layout is shared
 * with `scripts/event-log.ts`.
 */
export interface RecordFields {
  id: string;
  name: string;
  payload: Uint8Array;
  time: number;
}

const HEADER_BYTES = 8 + 2;

/** Packs one event into its stored form. Ids and names are at most 1,024 UTF-8 bytes. */
export function encodeRecord(fields: RecordFields): Buffer {
  const id = Buffer.from(fields.id, "utf8");
  const name = Buffer.from(fields.name, "utf8");
  const out = Buffer.allocUnsafe(
    HEADER_BYTES + id.length + 2 + name.length + fields.payload.length,
  );
  let at = out.writeDoubleBE(fields.time, 0);
  at = out.writeUInt16BE(id.length, at);
  at += id.copy(out, at);
  at = out.writeUInt16BE(name.length, at);
  at += name.copy(out, at);
  out.set(fields.payload, at);
  return out;
}

/**
 * Where the payload of each stored event `blobs[start…]` (consecutive offsets from `offset`)
 * starts, after its time, id and name: every blob is checked, so a missing blob or a wrong
 * layout is `STORE_CORRUPT` whatever part of the page a reader keeps.
 */
export function payloadStarts(
  blobs: readonly (Buffer | null | undefined)[],
  start: number,
  offset: number,
): Uint32Array {
  const starts = new Uint32Array(Math.max(0, blobs.length - start));
  for (let i = start; i < blobs.length; i++) {
    const blob = blobs[i];
    if (!blob) throw missing(offset + i - start);
    if (blob.length < HEADER_BYTES + 2) throw corrupt(blob.length);
    const idEnd = HEADER_BYTES + blob.readUInt16BE(8);
    if (idEnd + 2 > blob.length) throw corrupt(blob.length);
    const nameEnd = idEnd + 2 + blob.readUInt16BE(idEnd);
    if (nameEnd > blob.length) throw corrupt(blob.length);
    starts[i - start] = nameEnd;
  }
  return starts;
}

/** The append time of a stored event. */
export function storedTime(blob: Buffer): number {
  return blob.readDoubleBE(0);
}

/** Where the name of a stored event whose layout `payloadStarts` checked starts. */
export function nameStart(blob: Buffer): number {
  return HEADER_BYTES + blob.readUInt16BE(8) + 2;
}

/** The id of a stored event whose layout `payloadStarts` checked. */
export function storedId(blob: Buffer): string {
  return blob.toString("utf8", HEADER_BYTES, HEADER_BYTES + blob.readUInt16BE(8));
}

/** The name of a stored event whose payload starts at `payloadStart`. */
export function storedName(blob: Buffer, payloadStart: number): string {
  return blob.toString("utf8", nameStart(blob), payloadStart);
}

/**
 * Unpacks stored events `blobs[start…]` as consecutive records from `offset`. Their payloads
 * are views of one page-sized buffer copied out of the reply (one allocation per page, not per
 * event). A missing blob or a wrong layout is `STORE_CORRUPT`.
 */
export function decodeRecords(
  blobs: readonly (Buffer | null | undefined)[],
  start: number,
  stream: string,
  offset: number,
): EventRecord[] {
  const starts = payloadStarts(blobs, start, offset);
  let bytes = 0;
  for (let i = start; i < blobs.length; i++) bytes += blobs[i]!.length - starts[i - start]!;
  const page = new Uint8Array(bytes);
  let at = 0;
  const records: EventRecord[] = new Array(blobs.length - start);
  for (let i = start; i < blobs.length; i++) {
    const blob = blobs[i]!;
    const payloadStart = starts[i - start]!;
    const payloadLength = blob.length - payloadStart;
    page.set(blob.subarray(payloadStart), at);
    records[i - start] = {
      stream,
      offset: offset + i - start,
      id: storedId(blob),
      name: storedName(blob, payloadStart),
      payload: page.subarray(at, at + payloadLength),
      time: storedTime(blob),
    };
    at += payloadLength;
  }
  return records;
}

function missing(offset: number): AssuredError {
  return new AssuredError(
    "STORE_CORRUPT",
    `offset ${offset} is missing from a stream's log; was the key changed by something else?`,
  );
}

function corrupt(length: number): AssuredError {
  return new AssuredError(
    "STORE_CORRUPT",
    `a stored event of ${length} bytes does not have the expected layout; was the key written by something else?`,
  );
}
