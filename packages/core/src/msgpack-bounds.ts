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
  // One state object and module-level steps, no closures: this runs once per delivered event.
  const c: Bounds = {
    bytes,
    length: bytes.byteLength,
    pos: 0,
    levels: [],
    values: 1,
    owed: 1,
    maxDepth,
  };
  const length = c.length;
  while (true) {
    if (c.values === 0) {
      if (c.levels.length === 0) break;
      c.values = c.levels.pop()!;
      continue;
    }
    if (c.pos >= length) fail(c, "truncated input");
    c.values--;
    c.owed--;
    const head = bytes[c.pos++]!;
    if (head <= 0x7f || head >= 0xe0) continue; // fixint
    if (head <= 0x8f) open(c, (head & 0x0f) * 2);
    else if (head <= 0x9f) open(c, head & 0x0f);
    else if (head <= 0xbf) skip(c, head & 0x1f);
    else {
      switch (head) {
        case 0xc0: // nil
        case 0xc2: // false
        case 0xc3: // true
          break;
        case 0xc4: // bin8
        case 0xd9: // str8
          skip(c, readLength(c, 1));
          break;
        case 0xc5: // bin16
        case 0xda: // str16
          skip(c, readLength(c, 2));
          break;
        case 0xc6: // bin32
        case 0xdb: // str32
          skip(c, readLength(c, 4));
          break;
        // An extension value: a type byte and `size` data bytes (its decoders copy at most those).
        case 0xc7: // ext8
          skip(c, 1 + readLength(c, 1));
          break;
        case 0xc8: // ext16
          skip(c, 1 + readLength(c, 2));
          break;
        case 0xc9: // ext32
          skip(c, 1 + readLength(c, 4));
          break;
        case 0xcc: // uint8
        case 0xd0: // int8
          skip(c, 1);
          break;
        case 0xcd: // uint16
        case 0xd1: // int16
          skip(c, 2);
          break;
        case 0xca: // float32
        case 0xce: // uint32
        case 0xd2: // int32
          skip(c, 4);
          break;
        case 0xcb: // float64
        case 0xcf: // uint64
        case 0xd3: // int64
          skip(c, 8);
          break;
        case 0xd4: // fixext1
          skip(c, 1 + 1);
          break;
        case 0xd5: // fixext2
          skip(c, 1 + 2);
          break;
        case 0xd6: // fixext4
          skip(c, 1 + 4);
          break;
        case 0xd7: // fixext8
          skip(c, 1 + 8);
          break;
        case 0xd8: // fixext16
          skip(c, 1 + 16);
          break;
        case 0xdc: // array16
          open(c, readLength(c, 2));
          break;
        case 0xdd: // array32
          open(c, readLength(c, 4));
          break;
        case 0xde: // map16
          open(c, readLength(c, 2) * 2);
          break;
        case 0xdf: // map32
          open(c, readLength(c, 4) * 2);
          break;
        default: // 0xc1 is never used
          c.pos--;
          fail(c, `invalid type byte 0x${head.toString(16)}`);
      }
    }
  }
  if (c.pos !== length) fail(c, `${length - c.pos} extra bytes after the value`);
}

/** The walk's state. `levels`: values still to read at each open level; `owed` is their sum (each needs at least a byte). */
interface Bounds {
  readonly bytes: Uint8Array;
  readonly length: number;
  pos: number;
  readonly levels: number[];
  values: number;
  owed: number;
  readonly maxDepth: number;
}

function fail(c: Bounds, reason: string): never {
  throw new AssuredError("CODEC_ERROR", `cannot decode payload: ${reason} at byte ${c.pos}.`);
}

function readLength(c: Bounds, size: 1 | 2 | 4): number {
  if (c.pos + size > c.length) fail(c, "truncated length");
  let n = 0;
  for (let i = 0; i < size; i++) n = n * 256 + c.bytes[c.pos + i]!;
  c.pos += size;
  return n;
}

function skip(c: Bounds, n: number): void {
  if (n > c.length - c.pos) fail(c, `a value announces ${n} bytes but ${c.length - c.pos} remain`);
  c.pos += n;
}

function open(c: Bounds, count: number): void {
  if (count === 0) return;
  if (c.levels.length >= c.maxDepth) fail(c, `nesting deeper than ${c.maxDepth}`);
  if (c.owed + count > c.length - c.pos) {
    fail(c, `a container announces ${count} values but ${c.length - c.pos} bytes remain`);
  }
  c.levels.push(c.values);
  c.values = count;
  c.owed += count;
}
