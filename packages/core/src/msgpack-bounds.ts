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
  const length = bytes.byteLength;
  // Values still to read at each open level; `owed` is their sum (each needs at least a byte).
  const levels: number[] = [];
  let values = 1;
  let owed = 1;
  let pos = 0;
  const fail = (reason: string): never => {
    throw new AssuredError("CODEC_ERROR", `cannot decode payload: ${reason} at byte ${pos}.`);
  };
  const readLength = (size: 1 | 2 | 4): number => {
    if (pos + size > length) fail("truncated length");
    let n = 0;
    for (let i = 0; i < size; i++) n = n * 256 + bytes[pos + i]!;
    pos += size;
    return n;
  };
  const skip = (n: number): void => {
    if (n > length - pos) fail(`a value announces ${n} bytes but ${length - pos} remain`);
    pos += n;
  };
  const open = (count: number): void => {
    if (count === 0) return;
    if (levels.length >= maxDepth) fail(`nesting deeper than ${maxDepth}`);
    if (owed + count > length - pos) {
      fail(`a container announces ${count} values but ${length - pos} bytes remain`);
    }
    levels.push(values);
    values = count;
    owed += count;
  };
  // An extension value: a type byte and `size` data bytes (its decoders copy at most those).
  const extension = (size: number): void => skip(1 + size);

  while (true) {
    if (values === 0) {
      if (levels.length === 0) break;
      values = levels.pop()!;
      continue;
    }
    if (pos >= length) fail("truncated input");
    values--;
    owed--;
    const head = bytes[pos++]!;
    if (head <= 0x7f || head >= 0xe0) continue; // fixint
    if (head <= 0x8f) open((head & 0x0f) * 2);
    else if (head <= 0x9f) open(head & 0x0f);
    else if (head <= 0xbf) skip(head & 0x1f);
    else {
      switch (head) {
        case 0xc0: // nil
        case 0xc2: // false
        case 0xc3: // true
          break;
        case 0xc4: // bin8
        case 0xd9: // str8
          skip(readLength(1));
          break;
        case 0xc5: // bin16
        case 0xda: // str16
          skip(readLength(2));
          break;
        case 0xc6: // bin32
        case 0xdb: // str32
          skip(readLength(4));
          break;
        case 0xc7: // ext8
          extension(readLength(1));
          break;
        case 0xc8: // ext16
          extension(readLength(2));
          break;
        case 0xc9: // ext32
          extension(readLength(4));
          break;
        case 0xcc: // uint8
        case 0xd0: // int8
          skip(1);
          break;
        case 0xcd: // uint16
        case 0xd1: // int16
          skip(2);
          break;
        case 0xca: // float32
        case 0xce: // uint32
        case 0xd2: // int32
          skip(4);
          break;
        case 0xcb: // float64
        case 0xcf: // uint64
        case 0xd3: // int64
          skip(8);
          break;
        case 0xd4: // fixext1
          extension(1);
          break;
        case 0xd5: // fixext2
          extension(2);
          break;
        case 0xd6: // fixext4
          extension(4);
          break;
        case 0xd7: // fixext8
          extension(8);
          break;
        case 0xd8: // fixext16
          extension(16);
          break;
        case 0xdc: // array16
          open(readLength(2));
          break;
        case 0xdd: // array32
          open(readLength(4));
          break;
        case 0xde: // map16
          open(readLength(2) * 2);
          break;
        case 0xdf: // map32
          open(readLength(4) * 2);
          break;
        default: // 0xc1 is never used
          pos--;
          fail(`invalid type byte 0x${head.toString(16)}`);
      }
    }
  }
  if (pos !== length) fail(`${length - pos} extra bytes after the value`);
}
