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
  let bytes = 0;
  for (let i = start; i < blobs.length; i++) {
    const blob = blobs[i];
    if (!blob) throw missing(offset + i - start);
    bytes += blob.length;
  }
  const page = new Uint8Array(bytes);
  let at = 0;
  const records: EventRecord[] = new Array(blobs.length - start);
  for (let i = start; i < blobs.length; i++) {
    const blob = blobs[i] as Buffer;
    if (blob.length < HEADER_BYTES + 2) throw corrupt(blob.length);
    const idEnd = HEADER_BYTES + blob.readUInt16BE(8);
    if (idEnd + 2 > blob.length) throw corrupt(blob.length);
    const nameEnd = idEnd + 2 + blob.readUInt16BE(idEnd);
    if (nameEnd > blob.length) throw corrupt(blob.length);
    const payloadLength = blob.length - nameEnd;
    page.set(blob.subarray(nameEnd), at);
    records[i - start] = {
      stream,
      offset: offset + i - start,
      id: blob.toString("utf8", HEADER_BYTES, idEnd),
      name: blob.toString("utf8", idEnd + 2, nameEnd),
      payload: page.subarray(at, at + payloadLength),
      time: blob.readDoubleBE(0),
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
