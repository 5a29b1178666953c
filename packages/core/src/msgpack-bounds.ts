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
  new BoundsScan(bytes, maxDepth).run();
}

/** The state of one `assertBoundedMessagePack` pass (a class: no closures made per call). */
class BoundsScan {
  readonly bytes: Uint8Array;
  readonly length: number;
  readonly maxDepth: number;
  // Values still to read at each open level; `owed` is their sum (each needs at least a byte).
  readonly levels: number[] = [];
  values = 1;
  owed = 1;
  pos = 0;

  constructor(bytes: Uint8Array, maxDepth: number) {
    this.bytes = bytes;
    this.length = bytes.byteLength;
    this.maxDepth = maxDepth;
  }

  fail(reason: string): never {
    throw new AssuredError("CODEC_ERROR", `cannot decode payload: ${reason} at byte ${this.pos}.`);
  }

  readLength(size: 1 | 2 | 4): number {
    if (this.pos + size > this.length) this.fail("truncated length");
    let n = 0;
    for (let i = 0; i < size; i++) n = n * 256 + this.bytes[this.pos + i]!;
    this.pos += size;
    return n;
  }

  skip(n: number): void {
    const left = this.length - this.pos;
    if (n > left) this.fail(`a value announces ${n} bytes but ${left} remain`);
    this.pos += n;
  }

  open(count: number): void {
    if (count === 0) return;
    if (this.levels.length >= this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`);
    const left = this.length - this.pos;
    if (this.owed + count > left) {
      this.fail(`a container announces ${count} values but ${left} bytes remain`);
    }
    this.levels.push(this.values);
    this.values = count;
    this.owed += count;
  }

  /** An extension value: a type byte and `size` data bytes (its decoders copy at most those). */
  extension(size: number): void {
    this.skip(1 + size);
  }

  run(): void {
    const { bytes, length, levels } = this;
    while (true) {
      if (this.values === 0) {
        if (levels.length === 0) break;
        this.values = levels.pop()!;
        continue;
      }
      if (this.pos >= length) this.fail("truncated input");
      this.values--;
      this.owed--;
      const head = bytes[this.pos++]!;
      if (head <= 0x7f || head >= 0xe0) continue; // fixint
      if (head <= 0x8f) this.open((head & 0x0f) * 2);
      else if (head <= 0x9f) this.open(head & 0x0f);
      else if (head <= 0xbf) this.skip(head & 0x1f);
      else {
        switch (head) {
          case 0xc0: // nil
          case 0xc2: // false
          case 0xc3: // true
            break;
          case 0xc4: // bin8
          case 0xd9: // str8
            this.skip(this.readLength(1));
            break;
          case 0xc5: // bin16
          case 0xda: // str16
            this.skip(this.readLength(2));
            break;
          case 0xc6: // bin32
          case 0xdb: // str32
            this.skip(this.readLength(4));
            break;
          case 0xc7: // ext8
            this.extension(this.readLength(1));
            break;
          case 0xc8: // ext16
            this.extension(this.readLength(2));
            break;
          case 0xc9: // ext32
            this.extension(this.readLength(4));
            break;
          case 0xcc: // uint8
          case 0xd0: // int8
            this.skip(1);
            break;
          case 0xcd: // uint16
          case 0xd1: // int16
            this.skip(2);
            break;
          case 0xca: // float32
          case 0xce: // uint32
          case 0xd2: // int32
            this.skip(4);
            break;
          case 0xcb: // float64
          case 0xcf: // uint64
          case 0xd3: // int64
            this.skip(8);
            break;
          case 0xd4: // fixext1
            this.extension(1);
            break;
          case 0xd5: // fixext2
            this.extension(2);
            break;
          case 0xd6: // fixext4
            this.extension(4);
            break;
          case 0xd7: // fixext8
            this.extension(8);
            break;
          case 0xd8: // fixext16
            this.extension(16);
            break;
          case 0xdc: // array16
            this.open(this.readLength(2));
            break;
          case 0xdd: // array32
            this.open(this.readLength(4));
            break;
          case 0xde: // map16
            this.open(this.readLength(2) * 2);
            break;
          case 0xdf: // map32
            this.open(this.readLength(4) * 2);
            break;
          default: // 0xc1 is never used
            this.pos--;
            this.fail(`invalid type byte 0x${head.toString(16)}`);
        }
      }
    }
    if (this.pos !== length) this.fail(`${length - this.pos} extra bytes after the value`);
  }
}
