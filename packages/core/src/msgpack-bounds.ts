import { AssuredError } from "./errors.js";

/**
 * Deepest nesting of arrays, maps and extension values a payload may have. The encoder refuses
 * deeper values too, so everything `encode` produces decodes.
 */
export const MAX_PAYLOAD_DEPTH = 100;

/**
 * Checks, before any decoding, that MessagePack bytes hold exactly one complete value whose
 * every container and length fits the input: an array of n elements or a map of n entries
 * needs at least n (2n) more bytes, a string, binary or extension of n bytes needs n more
 * bytes — counting everything still owed by the enclosing containers. MessagePack decoders
 * (ours included) allocate what a header announces before reading the elements, so without
 * this check a 100-byte payload of nested `array32` headers allocates gigabytes. After the
 * check every allocation is bounded by the input length: the decoder creates at most one slot
 * per input byte. One pass, no allocation besides a stack of `MAX_PAYLOAD_DEPTH` counters.
 *
 * @throws AssuredError `CODEC_ERROR` naming the first offending byte offset.
 */
export function assertBoundedMessagePack(bytes: Uint8Array, maxDepth = MAX_PAYLOAD_DEPTH): void {
  const end = boundedValueEnd(bytes, 0, bytes.byteLength, maxDepth);
  if (end !== bytes.byteLength) fail(`${bytes.byteLength - end} extra bytes after the value`, end);
}

/** Whether the value the last `boundedValueEnd` call checked holds a `bin` value. */
let sawBinary = false;

/**
 * Whether the value the last `boundedValueEnd` (or `assertBoundedMessagePack`) call checked,
 * up to where it returned or threw, holds a `bin` value: the decoder returns those as views of
 * its input, which a caller must copy unless it owns the input; values without one need no copy.
 */
export function lastCheckedHadBinary(): boolean {
  return sawBinary;
}

/**
 * The open containers' remaining value counts of the check running now (`boundedValueEnd`), as
 * a stack with a depth: a typed array kept between calls allocates nothing (an array emptied
 * with `length = 0` drops its storage and allocates again on the next push).
 */
let openLevels = new Float64Array(MAX_PAYLOAD_DEPTH + 1);

/**
 * Checks one MessagePack value starting at `start`, within `bytes[start, limit)`, as
 * `assertBoundedMessagePack` does (byte offsets in errors count from `start`), and returns where
 * it ends. Lets a page of concatenated payloads be checked in place, one value per record.
 * @throws AssuredError `CODEC_ERROR` naming the first offending byte offset.
 */
export function boundedValueEnd(
  bytes: Uint8Array,
  start: number,
  limit: number,
  maxDepth = MAX_PAYLOAD_DEPTH,
): number {
  // No closures, no array per call: this runs once per decoded payload (not reentrant, so one
  // stack serves every call). Values still to read at each open level; `owed` is their sum
  // (each needs at least a byte).
  sawBinary = false;
  if (openLevels.length <= maxDepth) openLevels = new Float64Array(maxDepth + 1);
  const levels = openLevels;
  let depth = 0;
  let values = 1;
  let owed = 1;
  let pos = start;
  while (true) {
    if (values === 0) {
      if (depth === 0) break;
      values = levels[--depth]!;
      continue;
    }
    if (pos >= limit) fail("truncated input", pos - start);
    values--;
    owed--;
    const head = bytes[pos++]!;
    if (head <= 0x7f || head >= 0xe0) continue; // fixint
    // What the header announces: `skip` bytes to jump over, or `open` values of a container.
    let skip = 0;
    let open = -1;
    if (head <= 0x8f) open = (head & 0x0f) * 2;
    else if (head <= 0x9f) open = head & 0x0f;
    else if (head <= 0xbf) skip = head & 0x1f;
    else {
      // Size of a length field that follows the header (1, 2 or 4 bytes).
      let size = 0;
      switch (head) {
        case 0xc0: // nil
        case 0xc2: // false
        case 0xc3: // true
          continue;
        case 0xc4: // bin8
          sawBinary = true;
          size = 1;
          break;
        case 0xd9: // str8
          size = 1;
          break;
        case 0xc5: // bin16
          sawBinary = true;
          size = 2;
          break;
        case 0xda: // str16
          size = 2;
          break;
        case 0xc6: // bin32
          sawBinary = true;
          size = 4;
          break;
        case 0xdb: // str32
          size = 4;
          break;
        case 0xc7: // ext8: a type byte and the data bytes (its decoders copy at most those)
          size = 1;
          skip = 1;
          break;
        case 0xc8: // ext16
          size = 2;
          skip = 1;
          break;
        case 0xc9: // ext32
          size = 4;
          skip = 1;
          break;
        case 0xcc: // uint8
        case 0xd0: // int8
          skip = 1;
          break;
        case 0xcd: // uint16
        case 0xd1: // int16
          skip = 2;
          break;
        case 0xca: // float32
        case 0xce: // uint32
        case 0xd2: // int32
          skip = 4;
          break;
        case 0xcb: // float64
        case 0xcf: // uint64
        case 0xd3: // int64
          skip = 8;
          break;
        case 0xd4: // fixext1
          skip = 2;
          break;
        case 0xd5: // fixext2
          skip = 3;
          break;
        case 0xd6: // fixext4
          skip = 5;
          break;
        case 0xd7: // fixext8
          skip = 9;
          break;
        case 0xd8: // fixext16
          skip = 17;
          break;
        case 0xdc: // array16
          size = 2;
          open = 0;
          break;
        case 0xdd: // array32
          size = 4;
          open = 0;
          break;
        case 0xde: // map16
          size = -2;
          open = 0;
          break;
        case 0xdf: // map32
          size = -4;
          open = 0;
          break;
        default: // 0xc1 is never used
          fail(`invalid type byte 0x${head.toString(16)}`, pos - 1 - start);
      }
      if (size !== 0) {
        // A length field: a container's count (maps count keys and values) or a byte length.
        const width = size < 0 ? -size : size;
        if (pos + width > limit) fail("truncated length", pos - start);
        let n = 0;
        for (let i = 0; i < width; i++) n = n * 256 + bytes[pos + i]!;
        pos += width;
        if (open === 0) open = size < 0 ? n * 2 : n;
        else skip += n;
      }
    }
    if (open > 0) {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth}`, pos - start);
      if (owed + open > limit - pos) {
        fail(`a container announces ${open} values but ${limit - pos} bytes remain`, pos - start);
      }
      levels[depth++] = values;
      values = open;
      owed += open;
    } else if (skip > 0) {
      if (skip > limit - pos) {
        fail(`a value announces ${skip} bytes but ${limit - pos} remain`, pos - start);
      }
      pos += skip;
    }
  }
  return pos;
}

function fail(reason: string, at: number): never {
  throw new AssuredError("CODEC_ERROR", `cannot decode payload: ${reason} at byte ${at}.`);
}
