import { type PackedPage, pageCut } from "@assured/core/store";
import { nameStart, payloadStarts, storedId, storedTime } from "./record-blob.js";

/**
 * Packs stored events `blobs[start…]` (consecutive offsets from `offset`) as `[offset, id, name,
 * length, time]` records and their payloads, as `read` gives them, cut after `maxBytes` of payloads (the
 * first event always fits). No record objects: each event's id, name and time are read from
 * its stored form, and its payload is copied once, into the page's buffer. Events past the cut
 * are only checked (a missing one or a wrong layout is `STORE_CORRUPT`, as for `read`).
 */
export function packRecordBlobs(
  blobs: readonly (Buffer | null | undefined)[],
  start: number,
  offset: number,
  maxBytes: number,
): Pick<PackedPage, "records" | "payloads"> {
  const starts = payloadStarts(blobs, start, offset);
  const { count, bytes } = pageCut(
    starts.length,
    (i) => blobs[start + i]!.length - starts[i]!,
    maxBytes,
  );
  const records: PackedPage["records"] = new Array(count);
  const payloads = new Uint8Array(bytes);
  const names = new NameReader();
  let at = 0;
  for (let i = 0; i < count; i++) {
    const blob = blobs[start + i]!;
    const payloadStart = starts[i]!;
    const length = blob.copy(payloads, at, payloadStart);
    const name = names.read(blob, nameStart(blob), payloadStart);
    records[i] = [offset + i, storedId(blob), name, length, storedTime(blob)];
    at += length;
  }
  return { records, payloads };
}

/**
 * Decodes event names, reusing the previous one while its bytes repeat: a stream's events
 * mostly share a few names, and comparing a few bytes costs less than decoding them.
 */
class NameReader {
  #name = "";
  #blob: Buffer | undefined;
  #start = 0;
  #end = 0;

  /** The UTF-8 text of `blob[start…end)`. */
  read(blob: Buffer, start: number, end: number): string {
    const last = this.#blob;
    if (last !== undefined && end - start === this.#end - this.#start) {
      let i = 0;
      while (i < end - start && blob[start + i] === last[this.#start + i]) i++;
      if (i === end - start) return this.#name;
    }
    this.#name = blob.toString("utf8", start, end);
    this.#blob = blob;
    this.#start = start;
    this.#end = end;
    return this.#name;
  }
}
