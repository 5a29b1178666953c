import { describe, expect, it, vi } from "vitest";
import { decode, encode } from "../src/codec.js";
import { AssuredError } from "../src/errors.js";

function roundTrip<T>(value: T): unknown {
  return decode(encode(value));
}

describe("codec: payload fidelity", () => {
  it("round-trips JSON values exactly", () => {
    const value = {
      text: "héllo 👋 \u0000 end",
      n: [0, -1, 1.5, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 40],
      nested: { deep: [{ a: null }, true, false, ""] },
      empty: {},
      list: [],
    };
    expect(roundTrip(value)).toEqual(value);
  });

  it("keeps each binary kind as the same kind, nested anywhere", () => {
    const buffer = Buffer.from([0, 1, 255]);
    const bytes = new Uint8Array([9, 8, 7]);
    const arrayBuffer = new Uint8Array([1, 2, 3, 4]).buffer;
    const floats = new Float64Array([1.5, -0, Number.NaN]);
    const ints = new Int16Array([-32768, 32767]);
    const view = new DataView(new Uint8Array([5, 6]).buffer);
    const out = roundTrip({ buffer, list: [bytes, { arrayBuffer }], floats, ints, view }) as Record<
      string,
      unknown
    >;
    expect(Buffer.isBuffer(out.buffer)).toBe(true);
    expect([...(out.buffer as Buffer)]).toEqual([0, 1, 255]);
    const list = out.list as [Uint8Array, { arrayBuffer: ArrayBuffer }];
    expect(list[0].constructor).toBe(Uint8Array);
    expect([...list[0]]).toEqual([9, 8, 7]);
    expect(list[1].arrayBuffer).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(list[1].arrayBuffer)]).toEqual([1, 2, 3, 4]);
    expect(out.floats).toBeInstanceOf(Float64Array);
    expect(Object.is((out.floats as Float64Array)[1], -0)).toBe(true);
    expect(Number.isNaN((out.floats as Float64Array)[2])).toBe(true);
    expect([...(out.ints as Int16Array)]).toEqual([-32768, 32767]);
    expect(out.view).toBeInstanceOf(DataView);
    expect((out.view as DataView).getUint8(1)).toBe(6);
  });

  it("encodes only the viewed bytes of a view into a larger buffer", () => {
    const big = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const slice = Buffer.from(big.buffer, 2, 2);
    const sub = new Uint8Array(big.buffer, 1, 3);
    const out = roundTrip({ slice, sub }) as { slice: Buffer; sub: Uint8Array };
    expect([...out.slice]).toEqual([3, 4]);
    expect([...out.sub]).toEqual([2, 3, 4]);
  });

  it("round-trips a 1 MiB binary and empty binaries", () => {
    const big = new Uint8Array(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const out = roundTrip({ big, empty: new Uint8Array(0), emptyAb: new ArrayBuffer(0) }) as {
      big: Uint8Array;
      empty: Uint8Array;
      emptyAb: ArrayBuffer;
    };
    expect(Buffer.from(out.big).equals(Buffer.from(big))).toBe(true);
    expect(out.empty.byteLength).toBe(0);
    expect(out.emptyAb.byteLength).toBe(0);
  });

  it("decoded binaries own their bytes (no aliasing of the payload)", () => {
    const payload = encode({ b: new Uint8Array([1, 2, 3]) });
    const out = decode(payload) as { b: Uint8Array };
    payload.fill(0);
    expect([...out.b]).toEqual([1, 2, 3]);
  });

  it("encode results are independent of later encodes", () => {
    const first = encode("first");
    encode("second, which reuses the encoder's buffer");
    expect(decode(first)).toBe("first");
  });

  it("encode results own a buffer of their exact size (nothing else is retained by them)", () => {
    const bytes = encode({ text: "x".repeat(200) });
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(bytes.byteLength);
  });

  it("drops undefined properties like Socket.IO's JSON, keeps Date", () => {
    const date = new Date(1_700_000_000_123);
    expect(roundTrip({ a: undefined, b: 1, d: date })).toEqual({ b: 1, d: date });
  });

  it("refuses to encode an own __proto__ key (nothing could decode it), not a __proto__ string", () => {
    const value = JSON.parse('{"a": [{"__proto__": 1}]}');
    expect(() => encode(value)).toThrow(expect.objectContaining({ code: "CODEC_ERROR" }));
    expect(roundTrip({ text: "__proto__", list: ["__proto__"] })).toEqual({
      text: "__proto__",
      list: ["__proto__"],
    });
  });

  it("searches for that key beside a browser Buffer polyfill whose indexOf takes only its own Buffers", async () => {
    /** Like the `buffer` package's: `indexOf` throws for a needle that is not one of its own. */
    class PolyfillBuffer extends Uint8Array {
      static isBuffer(value: unknown): boolean {
        return value instanceof PolyfillBuffer;
      }
      override indexOf(value: unknown): number {
        if (!(value instanceof PolyfillBuffer)) {
          throw new TypeError("val must be string, number or Buffer");
        }
        return -1;
      }
    }
    vi.stubGlobal("Buffer", PolyfillBuffer);
    vi.resetModules();
    try {
      const codec = await import("../src/codec.js");
      expect(codec.decode(codec.encode({ text: "__proto__" }))).toEqual({ text: "__proto__" });
      expect(() => codec.encode(JSON.parse('{"__proto__": 1}'))).toThrow(
        expect.objectContaining({ code: "CODEC_ERROR" }),
      );
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });

  it("does not let a __proto__ key pollute prototypes", () => {
    // `{"__proto__": {"polluted": true}}` in MessagePack, as a peer could send it (encode refuses it).
    const text = (t: string) => [0xa0 + t.length, ...new TextEncoder().encode(t)];
    const payload = new Uint8Array([0x81, ...text("__proto__"), 0x81, ...text("polluted"), 0xc3]);
    try {
      const out = decode(payload) as Record<string, unknown>;
      expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    } catch (error) {
      expect(error).toBeInstanceOf(AssuredError);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("codec: bad input (G12)", () => {
  it("rejects values Socket.IO cannot carry with CODEC_ERROR", () => {
    expect(() => encode(10n)).toThrowError(expect.objectContaining({ code: "CODEC_ERROR" }));
    expect(() => encode({ f: Symbol("x") })).toThrowError(
      expect.objectContaining({ code: "CODEC_ERROR" }),
    );
  });

  it("rejects garbage bytes with CODEC_ERROR", () => {
    for (const garbage of [
      new Uint8Array([0xc1]),
      new Uint8Array([0xd9, 0xff]),
      new Uint8Array(),
    ]) {
      expect(() => decode(garbage)).toThrowError(expect.objectContaining({ code: "CODEC_ERROR" }));
    }
    expect(() => decode("text" as unknown as Uint8Array)).toThrowError(
      expect.objectContaining({ code: "CODEC_ERROR" }),
    );
  });

  it("rejects an unknown typed-array kind with CODEC_ERROR", () => {
    // ext 0x12 with kind byte 200
    const bytes = new Uint8Array([0xd5, 0x12, 200, 0]);
    expect(() => decode(bytes)).toThrowError(expect.objectContaining({ code: "CODEC_ERROR" }));
  });
});
