import type { Decoder } from "@msgpack/msgpack";
import { isNode } from "./runtime.js";

/**
 * Faster string decoding for `@msgpack/msgpack` on Node. The library decodes every string of
 * up to 200 bytes in JavaScript, one code unit pushed to an array at a time (about 1 KB of
 * garbage and 0.35 µs for a 42-byte chat message on Node 20); Node's `TextDecoder` does the same
 * work natively in about 0.14 µs. Strings of `NATIVE_STRING_MIN_BYTES` to `NATIVE_STRING_MAX_BYTES`
 * bytes are therefore decoded with a strict `TextDecoder` (`fatal`, `ignoreBOM`): for valid UTF-8 it gives
 * exactly the library's string, and anything else (invalid UTF-8, or a lone surrogate the
 * library's own encoder wrote for a short string) throws and is decoded by the library as
 * before, so every input decodes to the same value as without this.
 *
 * The hook replaces the decoder's `decodeUtf8String` (internal in the library's types) on one
 * instance; the test `msgpack-strings.test.ts` fails if the library stops calling it, so an
 * upgrade that renames it is noticed. Browsers keep the library's decoding: their
 * `TextDecoder` costs more per call, and the library's threshold was measured there.
 */

/** Strings at least this long (in bytes) are decoded natively; shorter ones cost less in JavaScript. */
export const NATIVE_STRING_MIN_BYTES = 32;

/**
 * Longer strings are left to the library, which decodes them natively already (with a default
 * `TextDecoder`, which drops a leading byte order mark: the hook must not decode them otherwise).
 */
export const NATIVE_STRING_MAX_BYTES = 200;

/** The decoder internals the hook reads: the library's field and method names (3.x). */
interface StringDecoding {
  pos: number;
  bytes: Uint8Array;
  maxStrLength: number;
  decodeUtf8String(byteLength: number, headerOffset: number): string;
}

/**
 * Makes `decoder` decode strings of `NATIVE_STRING_MIN_BYTES` or more with a strict native
 * `TextDecoder` (Node only); returns whether the hook was installed.
 */
export function decodeLongStringsNatively(decoder: Decoder): boolean {
  const internals = decoder as unknown as StringDecoding;
  const decodeInJs = internals.decodeUtf8String;
  if (!isNode || typeof TextDecoder !== "function" || typeof decodeInJs !== "function") {
    return false;
  }
  const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  internals.decodeUtf8String = function decodeUtf8String(
    this: StringDecoding,
    byteLength: number,
    headerOffset: number,
  ): string {
    if (
      byteLength >= NATIVE_STRING_MIN_BYTES &&
      byteLength <= NATIVE_STRING_MAX_BYTES &&
      byteLength <= this.maxStrLength
    ) {
      const start = this.pos + headerOffset;
      const end = start + byteLength;
      if (end <= this.bytes.byteLength) {
        let text: string | undefined;
        try {
          text = strict.decode(this.bytes.subarray(start, end));
        } catch {
          // Not valid UTF-8: the library decodes it as it always did.
        }
        if (text !== undefined) {
          this.pos = end;
          return text;
        }
      }
    }
    return decodeInJs.call(this, byteLength, headerOffset);
  };
  return true;
}
