import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encode, isAssuredError } from "../src/index.js";
import {
  INLINE_PAYLOADS_MAX_BYTES,
  packRecords,
  unpackRecords,
  wirePayloadBytes,
} from "../src/protocol-entry.js";
import {
  base64Length,
  decodeBase64,
  decodeBase64Table,
  encodeBase64,
  encodeBase64Table,
} from "../src/wire-base64.js";

const record = (offset: number, payload: Uint8Array) => ({
  offset,
  id: `id-${offset}`,
  name: "e",
  payload,
  time: 1_700_000_000_000 + offset,
});

const badFrame = expect.toSatisfy((e) => isAssuredError(e, "BAD_FRAME"));

describe("packRecords / unpackRecords", () => {
  const records = [
    record(1, encode({ a: 1 })),
    record(2, new Uint8Array(0)),
    record(3, encode(new Uint8Array([1, 2, 3]))),
  ];

  it("carries small frames inline: payloads are a base64 string (no binary attachment)", () => {
    const packed = packRecords(records);
    expect(typeof packed.payloads).toBe("string");
    expect(packed.records.map((r) => r[3])).toEqual(records.map((r) => r.payload.byteLength));
    expect(wirePayloadBytes(packed.records)).toBe(
      records.reduce((n, r) => n + r.payload.byteLength, 0),
    );
    const unpacked = unpackRecords("s", packed.records, packed.payloads);
    expect(unpacked).toEqual(records.map((r) => ({ stream: "s", ...r })));
    for (const r of unpacked) expect(r.payload.constructor).toBe(Uint8Array);
  });

  it("carries frames above INLINE_PAYLOADS_MAX_BYTES as one binary blob", () => {
    const big = [
      record(1, new Uint8Array(INLINE_PAYLOADS_MAX_BYTES).fill(7)),
      record(2, new Uint8Array([9])),
    ];
    const packed = packRecords(big);
    expect(packed.payloads).toBeInstanceOf(Uint8Array);
    expect((packed.payloads as Uint8Array).byteLength).toBe(INLINE_PAYLOADS_MAX_BYTES + 1);
    const exact = packRecords([record(1, new Uint8Array(INLINE_PAYLOADS_MAX_BYTES))]);
    expect(typeof exact.payloads).toBe("string");
    expect(unpackRecords("s", packed.records, packed.payloads)).toEqual(
      big.map((r) => ({ stream: "s", ...r })),
    );
  });

  it("unpacks binary payloads into views of one buffer per frame, not one copy per record", () => {
    const packed = packRecords(records, -1);
    const blob = packed.payloads as Uint8Array;
    const unpacked = unpackRecords("s", packed.records, blob);
    expect(unpacked[0]!.payload.buffer).toBe(blob.buffer);
    expect(unpacked[2]!.payload.buffer).toBe(blob.buffer);
  });

  it("copies a binary view of a larger buffer once, so records keep only their frame alive", () => {
    const packed = packRecords(records, -1);
    const blob = packed.payloads as Uint8Array;
    const socketRead = new Uint8Array(blob.byteLength + 100);
    socketRead.set(blob, 50);
    const view = Buffer.from(socketRead.buffer, 50, blob.byteLength);
    const unpacked = unpackRecords("s", packed.records, view);
    expect(unpacked[0]!.payload.buffer.byteLength).toBe(blob.byteLength);
    expect(unpacked[0]!.payload.constructor).toBe(Uint8Array);
    expect(unpacked).toEqual(records.map((r) => ({ stream: "s", ...r })));
  });

  it("accepts an ArrayBuffer for payloads (as browsers receive attachments)", () => {
    const packed = packRecords([record(1, encode("x"))], -1);
    const buffer = (packed.payloads as Uint8Array).slice().buffer;
    expect(unpackRecords("s", packed.records, buffer)[0]!.payload).toEqual(encode("x"));
  });

  it("rejects records and payloads that do not match with BAD_FRAME", () => {
    const packed = packRecords([record(1, encode("abc"))], -1);
    const inline = packRecords([record(1, encode("abc"))]);
    const text = inline.payloads as string;
    const bad: [unknown, unknown][] = [
      [packed.records, new Uint8Array(0)],
      [packed.records, new Uint8Array(100)],
      [packed.records, 42],
      [packed.records, null],
      [packed.records, { length: 4 }],
      ["records", packed.payloads],
      [[[1, "id", "e", -1, 0]], packed.payloads],
      [[[1, "id", "e", 1.5, 0]], packed.payloads],
      [[[1, "id", "e"]], packed.payloads],
      [[[1, 2, "e", 1, 0]], packed.payloads],
      // Inline (base64) payloads that are not the canonical encoding of the announced bytes.
      [inline.records, "payload!"],
      [inline.records, ""],
      [inline.records, text.slice(0, -1)],
      [inline.records, `${text}AAAA`],
      [inline.records, `${text.slice(0, -1)}!`],
      [inline.records, text.replace(/=/g, "A")],
      [inline.records, ` ${text.slice(1)}`],
      [inline.records, `${text.slice(0, 2)}-_${text.slice(4)}`],
      [inline.records, `${text.slice(0, 4)}=${text.slice(5)}`],
      [[[1, "id", "e", 2 ** 53, 0]], "AAAA"],
      [
        [
          [1, "id", "e", 3, 0],
          [2, "id", "e", -3, 0],
        ],
        "",
      ],
      [[[1, "id", "e", "3", 0]], "AAAA"],
      [[null], "AAAA"],
    ];
    for (const [records, payloads] of bad) {
      expect(() => unpackRecords("s", records, payloads), JSON.stringify(payloads)).toThrowError(
        badFrame,
      );
    }
  });

  it("round-trips any records in both encodings (property)", () => {
    const arbitraryRecords = fc.array(
      fc.record({
        id: fc.string({ minLength: 1, maxLength: 8 }),
        name: fc.string({ minLength: 1, maxLength: 8 }),
        payload: fc.uint8Array({ maxLength: 40 }),
        time: fc.integer(),
      }),
      { maxLength: 20 },
    );
    fc.assert(
      fc.property(arbitraryRecords, fc.boolean(), (list, inline) => {
        const input = list.map((r, i) => ({ ...r, offset: i + 1 }));
        const packed = packRecords(input, inline ? INLINE_PAYLOADS_MAX_BYTES : -1);
        expect(typeof packed.payloads === "string").toBe(inline);
        const out = unpackRecords("s", packed.records, packed.payloads);
        expect(out).toEqual(input.map((r) => ({ stream: "s", ...r })));
      }),
    );
  });

  it("rejects any other string as inline payloads (property: never misread, never thrown past BAD_FRAME)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(12), { minLength: 1, maxLength: 4 }),
        fc.string({ maxLength: 24 }),
        (lengths, text) => {
          const total = lengths.reduce((a, b) => a + b, 0);
          const wire = lengths.map((length, i) => [i + 1, "id", "e", length, 0]);
          let out: ReturnType<typeof unpackRecords> | undefined;
          try {
            out = unpackRecords("s", wire, text);
          } catch (error) {
            expect(isAssuredError(error, "BAD_FRAME")).toBe(true);
            return;
          }
          // Accepted: it is the padded base64 of exactly the announced bytes.
          const bytes = new Uint8Array(total);
          let at = 0;
          for (const r of out) {
            bytes.set(r.payload, at);
            at += r.payload.byteLength;
          }
          expect(at).toBe(total);
          expect(text).toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
          expect(text.length).toBe(base64Length(total));
          expect(new Uint8Array(Buffer.from(text, "base64"))).toEqual(bytes);
        },
      ),
    );
  });
});

describe("inline base64 (Node's Buffer and the browser's table codec agree)", () => {
  it("encodes and decodes like Buffer, and refuses the same strings", () => {
    const browser = { encodeBase64: encodeBase64Table, decodeBase64: decodeBase64Table };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 50 }), fc.string({ maxLength: 12 }), (bytes, junk) => {
        const text = Buffer.from(bytes).toString("base64");
        expect(encodeBase64(bytes)).toBe(text);
        expect(browser.encodeBase64(bytes)).toBe(text);
        expect(decodeBase64(text, bytes.length)).toEqual(bytes);
        expect(browser.decodeBase64(text, bytes.length)).toEqual(bytes);
        const mangled = text + junk;
        expect(browser.decodeBase64(mangled, bytes.length)).toEqual(
          decodeBase64(mangled, bytes.length),
        );
        expect(browser.decodeBase64(junk, junk.length % 7)).toEqual(
          decodeBase64(junk, junk.length % 7),
        );
      }),
    );
  });
});
