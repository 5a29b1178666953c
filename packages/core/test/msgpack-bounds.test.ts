import { encode as rawEncode } from "@msgpack/msgpack";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decode, encode } from "../src/codec.js";
import { AssuredError } from "../src/errors.js";
import { assertBoundedMessagePack, MAX_PAYLOAD_DEPTH } from "../src/msgpack-bounds.js";

/** The frame that took the server down: twenty nested `array32` headers of 33,554,431 elements. */
const CRASH_FRAME = Uint8Array.from(
  Array.from({ length: 20 }, () => [0xdd, 0x01, 0xff, 0xff, 0xff]).flat(),
);

function codecError(run: () => unknown): AssuredError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AssuredError);
    expect((error as AssuredError).code).toBe("CODEC_ERROR");
    return error as AssuredError;
  }
  throw new Error("expected CODEC_ERROR, the bytes decoded");
}

// Headers that announce `n` elements, entries or bytes, for every container and length kind.
const u16 = (n: number) => [(n >>> 8) & 0xff, n & 0xff];
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const HEADERS: ((n: number) => number[])[] = [
  (n) => [0x90 | (n & 0x0f)], // fixarray
  (n) => [0x80 | (n & 0x0f)], // fixmap
  (n) => [0xa0 | (n & 0x1f)], // fixstr
  (n) => [0xdc, ...u16(n)], // array16
  (n) => [0xdd, ...u32(n)], // array32
  (n) => [0xde, ...u16(n)], // map16
  (n) => [0xdf, ...u32(n)], // map32
  (n) => [0xd9, n & 0xff], // str8
  (n) => [0xda, ...u16(n)], // str16
  (n) => [0xdb, ...u32(n)], // str32
  (n) => [0xc4, n & 0xff], // bin8
  (n) => [0xc5, ...u16(n)], // bin16
  (n) => [0xc6, ...u32(n)], // bin32
  (n) => [0xc7, n & 0xff, 0x12], // ext8 (typed array)
  (n) => [0xc8, ...u16(n), 0x10], // ext16 (ArrayBuffer)
  (n) => [0xc9, ...u32(n), 0x11], // ext32 (Buffer)
  (n) => [0xc9, ...u32(n), 0xff], // ext32 (timestamp)
];

/** Random sequences of container and length headers announcing large sizes, with filler. */
const headerBomb = fc
  .array(
    fc.record({
      kind: fc.integer({ min: 0, max: HEADERS.length - 1 }),
      size: fc.oneof(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.constantFrom(0xffff, 0x1ffffff, 0xffffffff, 0x7fffffff),
      ),
      filler: fc.uint8Array({ maxLength: 4 }),
    }),
    { minLength: 1, maxLength: 40 },
  )
  .map((parts) =>
    Uint8Array.from(
      parts.flatMap(({ kind, size, filler }) => [...HEADERS[kind]!(size), ...filler]),
    ),
  );

describe("bounded MessagePack decoding (G11, G12)", () => {
  it("refuses the crash frame in well under a millisecond, without allocating", () => {
    const error = codecError(() => decode(CRASH_FRAME));
    expect(error.message).toMatch(/announces 33554431 values but 95 bytes remain at byte 5/);
    globalThis.gc?.();
    const before = process.memoryUsage();
    const started = performance.now();
    const rounds = 2_000;
    for (let i = 0; i < rounds; i++) codecError(() => decode(CRASH_FRAME));
    const perFrameMs = (performance.now() - started) / rounds;
    const after = process.memoryUsage();
    expect(perFrameMs).toBeLessThan(1);
    // 2,000 frames that each announced ~670 million elements: the heap barely moves.
    expect(after.heapUsed - before.heapUsed).toBeLessThan(32 * 1024 * 1024);
    expect(after.rss - before.rss).toBeLessThan(64 * 1024 * 1024);
  });

  it("refuses every random container-header bomb with CODEC_ERROR, linear in its length", () => {
    let totalMs = 0;
    let totalBytes = 0;
    fc.assert(
      fc.property(headerBomb, (bytes) => {
        const started = performance.now();
        let decoded = true;
        try {
          decode(bytes);
        } catch (error) {
          decoded = false;
          expect((error as AssuredError).code).toBe("CODEC_ERROR");
        }
        totalMs += performance.now() - started;
        totalBytes += bytes.byteLength;
        // What decodes is small: it was all in the input.
        if (decoded) expect(bytes.byteLength).toBeLessThan(4 + 40 * 9);
      }),
      { numRuns: 3_000 },
    );
    // Measured in aggregate: one sample can be hit by a GC pause or a busy machine.
    expect(totalMs / totalBytes).toBeLessThan(1);
  });

  it("bounds memory over thousands of random bombs", () => {
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    fc.assert(
      fc.property(headerBomb, (bytes) => {
        try {
          decode(bytes);
        } catch {}
        peak = Math.max(peak, process.memoryUsage().rss);
      }),
      { numRuns: 5_000 },
    );
    expect(peak - before).toBeLessThan(64 * 1024 * 1024);
  });

  it("accepts every value encode produces and refuses its truncations and extensions", () => {
    const leaf = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 64 }),
      fc.int32Array({ maxLength: 8 }),
      fc.date({ noInvalidDate: true }),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        leaf,
        fc.array(tie("node"), { maxLength: 5 }),
        // An own "__proto__" key is refused by encode (codec.test.ts): not a value it produces.
        fc.dictionary(
          fc.string().filter((key) => key !== "__proto__"),
          tie("node"),
          { maxKeys: 5 },
        ),
      ),
    })).node;
    fc.assert(
      fc.property(
        value,
        fc.nat(),
        fc.uint8Array({ minLength: 1, maxLength: 4 }),
        (v, cut, extra) => {
          const bytes = encode(v);
          expect(() => assertBoundedMessagePack(bytes)).not.toThrow();
          const prefix = bytes.subarray(0, cut % bytes.byteLength);
          codecError(() => assertBoundedMessagePack(prefix));
          codecError(() => assertBoundedMessagePack(Uint8Array.from([...bytes, ...extra])));
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it("agrees with the MessagePack library on what is complete, for random values of its own", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const bytes = rawEncode(v);
        expect(() => assertBoundedMessagePack(bytes)).not.toThrow();
      }),
      { numRuns: 1_000 },
    );
  });

  it(`allows ${MAX_PAYLOAD_DEPTH} nesting levels, the encoder's own limit, and refuses more`, () => {
    let deepest: unknown = 1;
    for (let i = 0; i < 99; i++) deepest = [deepest];
    expect(decode(encode(deepest))).toEqual(deepest);
    expect(() => encode([deepest])).toThrow(AssuredError);
    const tooDeep = Uint8Array.from([...Array(MAX_PAYLOAD_DEPTH + 1).fill(0x91), 0x01]);
    expect(codecError(() => decode(tooDeep)).message).toMatch(/nesting deeper than 100/);
    const deepEnough = Uint8Array.from([...Array(MAX_PAYLOAD_DEPTH).fill(0x91), 0x01]);
    expect(() => decode(deepEnough)).not.toThrow();
  });

  it("refuses the unused type byte 0xc1 and lengths past the end", () => {
    expect(codecError(() => decode(Uint8Array.of(0xc1))).message).toMatch(/invalid type byte 0xc1/);
    codecError(() => decode(Uint8Array.of(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61)));
    codecError(() => decode(Uint8Array.of(0xc6, 0x00, 0x00, 0x00, 0x02, 0x01)));
    codecError(() => decode(Uint8Array.of(0xc9, 0x7f, 0xff, 0xff, 0xff, 0x12, 0)));
    codecError(() => decode(Uint8Array.of(0x92, 0x01)));
    codecError(() => decode(new Uint8Array(0)));
  });
});
