import type { EventRecord } from "@assured/core";
import type { Binary } from "mongodb";

/**
 * One event as stored. `_id` is `<epoch>:<offset, 16 digits>`: epochs are random 126-bit ids
 * that belong to one stream, so `_id` identifies (stream, epoch, offset), sorts by offset, and
 * is the one key FerretDB can look up without a scan.
 */
export interface EventDocument {
  _id: string;
  /** Stream name (a value only, never a key). */
  s: string;
  /** Epoch. */
  e: string;
  /** Offset. */
  o: number;
  /** Event id, unique per (stream, epoch). */
  i: string;
  /** Event name. */
  n: string;
  /** Payload bytes. */
  p: Binary;
  /** Append time from the store's clock (ms). */
  t: number;
  /** When the server may delete the event (TTL index), set only under age retention. */
  x?: Date;
}

/**
 * One stream's state. Every offset in `(h, head]` is present; every offset `<= f` may have
 * been trimmed; `f <= h <= head`.
 */
export interface StreamDocument {
  /** Stream name. */
  _id: string;
  /** The current epoch. */
  e: string;
  /** A head lower bound: offsets above it up to the head are all present. */
  h: number;
  /** Trimmed-through: offsets up to it may be gone. */
  f: number;
}

const OFFSET_DIGITS = 16;

/** The `_id` of the event at `offset` in `epoch`. */
export function eventKey(epoch: string, offset: number): string {
  return `${epoch}:${String(offset).padStart(OFFSET_DIGITS, "0")}`;
}

/** Copies stored bytes into a plain `Uint8Array` that owns them. */
export function bytesOf(binary: Binary): Uint8Array {
  const out = new Uint8Array(binary.position);
  out.set(binary.buffer.subarray(0, binary.position));
  return out;
}

/**
 * A plain `Uint8Array` view of stored bytes (no copy): the driver deserializes each reply into a
 * buffer of its own, so a read's records may point into it (the catch-up path copies each
 * payload once more, into the page it sends).
 */
function viewOf(binary: Binary): Uint8Array {
  const bytes = binary.buffer;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, binary.position);
}

/** The record a stored event document stands for (its payload a view into the reply). */
export function toEventRecord(doc: EventDocument): EventRecord {
  return {
    stream: doc.s,
    offset: doc.o,
    id: doc.i,
    name: doc.n,
    payload: viewOf(doc.p),
    time: doc.t,
  };
}
