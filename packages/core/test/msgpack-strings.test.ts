import { Decoder, Encoder } from "@msgpack/msgpack";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { decode, encode } from "../src/codec.js";
import { decodeLongStringsNatively, NATIVE_STRING_MIN_BYTES } from "../src/msgpack-strings.js";

/** What a decoder gives for `bytes`: its value, or the message of what it threw. */
function outcome(decoder: Decoder, bytes: Uint8Array): { value: unknown } | { error: string } {
  try {
    return { value: decoder.decode(bytes) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function hooked(): Decoder {
  const decoder = new Decoder();
  expect(decodeLongStringsNatively(decoder)).toBe(true);
  return decoder;
}

/** A msgpack str 8 / str 16 header and `body` as its bytes, whatever they are. */
function rawString(body: Uint8Array): Uint8Array {
  const header =
    body.length < 256 ? [0xd9, body.length] : [0xda, body.length >> 8, body.length & 0xff];
  return new Uint8Array([...header, ...body]);
}

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));

describe("strings decoded natively (msgpack-strings)", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("decodes any string exactly as the library does, as a value and as a key (fast-check)", () => {
    const plain = new Decoder();
    const decoder = hooked();
    const encoder = new Encoder();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: "binary", maxLength: 120 }),
          fc.string({ unit: codeUnit, maxLength: 120 }),
          fc.string({ unit: "grapheme-ascii", minLength: 30, maxLength: 300, size: "max" }),
        ),
        (text) => {
          const bytes = encoder.encode({ [text]: [text, `\uFEFF${text}`] });
          expect(outcome(decoder, bytes)).toEqual(outcome(plain, bytes));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("decodes any bytes in a string header as the library does: invalid UTF-8 falls back (fast-check)", () => {
    const plain = new Decoder();
    const decoder = hooked();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (body) => {
        const bytes = rawString(body);
        expect(outcome(decoder, bytes)).toEqual(outcome(plain, bytes));
        // Cut short: the library's own error, not another one.
        if (body.length > 0) {
          const cut = bytes.subarray(0, bytes.length - 1);
          expect(outcome(decoder, cut)).toEqual(outcome(plain, cut));
        }
      }),
      { numRuns: 500 },
    );
  });

  it("decodes long strings as the library does, a leading byte order mark included (it drops it past 200 bytes)", () => {
    const plain = new Decoder();
    const decoder = hooked();
    const encoder = new Encoder();
    for (const length of [31, 32, 100, 199, 200, 201, 250, 1000]) {
      for (const text of ["x".repeat(length), `\uFEFF${"x".repeat(length)}`, "é".repeat(length)]) {
        const bytes = encoder.encode({ text, list: [text] });
        expect(outcome(decoder, bytes)).toEqual(outcome(plain, bytes));
      }
    }
  });

  it("keeps a leading byte order mark and a short string's lone surrogate", () => {
    const bom = `\uFEFF${"x".repeat(NATIVE_STRING_MIN_BYTES)}`;
    const lone = `\uD800${"y".repeat(NATIVE_STRING_MIN_BYTES)}`;
    expect(decode(encode({ bom, lone }))).toEqual({ bom, lone });
  });

  it("is what the codec uses: a long string is decoded by TextDecoder, a short one is not", () => {
    const native = vi.spyOn(TextDecoder.prototype, "decode");
    expect(decode(encode({ text: "hi" }))).toEqual({ text: "hi" });
    expect(native).not.toHaveBeenCalled();
    const text = "hello from the benchmark, with a few words";
    expect(decode(encode({ text }))).toEqual({ text });
    // Fails if the library no longer decodes strings through the hooked method.
    expect(native).toHaveBeenCalledTimes(1);
  });

  it("honours the decoder's maxStrLength", () => {
    const decoder = new Decoder({ maxStrLength: 40 });
    decodeLongStringsNatively(decoder);
    const bytes = new Encoder().encode("z".repeat(41));
    expect(() => decoder.decode(bytes)).toThrow(/maxStrLength/);
  });
});
