import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encode, isAssuredError } from "../src/index.js";
import {
  INLINE_PAYLOADS_MAX_BYTES,
  packRecords,
  packWireRecords,
  unpackRecords,
  type WirePage,
  type WireRecord,
} from "../src/protocol-entry.js";
import {
  decodeBase64,
  decodeBase64Table,
  decodeBase64Text,
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

describe("packRecords / unpackRecords (records in columns)", () => {
  const records = [
    record(1, encode({ a: 1 })),
    record(2, new Uint8Array(0)),
    record(3, encode(new Uint8Array([1, 2, 3]))),
  ];
  const columnsOf = (page: WirePage) =>
    typeof page.columns === "string" ? decodeBase64Text(page.columns)! : page.columns;

  it("carries a page as a few values: first offset, count, ids joined, names once, one byte column", () => {
    const packed = packRecords([...records, { ...record(4, encode(4)), name: "other" }]);
    expect(packed).toMatchObject({
      first: 1,
      count: 4,
      bytes: records.reduce((n, r) => n + r.payload.byteLength, 0) + encode(4).byteLength,
      ids: "id-1id-2id-3id-4",
      names: ["e", "other"],
    });
    // Small pages travel inline: no binary attachment, one WebSocket frame.
    expect(typeof packed.columns).toBe("string");
    const { records: unpacked, payloads } = unpackRecords("s", packed);
    expect(unpacked.map((r) => [r.offset, r.id, r.name])).toEqual([
      [1, "id-1", "e"],
      [2, "id-2", "e"],
      [3, "id-3", "e"],
      [4, "id-4", "other"],
    ]);
    expect(payloads.byteLength).toBe(packed.bytes);
    for (const r of unpacked) expect(r.payload.constructor).toBe(Uint8Array);
  });

  it("packs a store's packed page (readPacked) as it packs the records themselves", () => {
    const wire = records.map(
      (r) => [r.offset, r.id, r.name, r.payload.byteLength, r.time] as WireRecord,
    );
    const joined = new Uint8Array(records.reduce((n, r) => n + r.payload.byteLength, 0));
    let at = 0;
    for (const r of records) {
      joined.set(r.payload, at);
      at += r.payload.byteLength;
    }
    expect(packWireRecords(wire, joined)).toEqual(packRecords(records));
    expect(packRecords([])).toEqual({
      first: 0,
      count: 0,
      bytes: 0,
      ids: "",
      names: [],
      columns: "",
    });
    expect(unpackRecords("s", packRecords([])).records).toEqual([]);
  });

  it("carries columns above INLINE_PAYLOADS_MAX_BYTES as one binary blob", () => {
    const big = [
      record(1, new Uint8Array(INLINE_PAYLOADS_MAX_BYTES).fill(7)),
      record(2, new Uint8Array([9])),
    ];
    const packed = packRecords(big);
    expect(packed.columns).toBeInstanceOf(Uint8Array);
    expect(packed.bytes).toBe(INLINE_PAYLOADS_MAX_BYTES + 1);
    const small = packRecords([record(1, new Uint8Array(100))]);
    expect(typeof small.columns).toBe("string");
    expect(unpackRecords("s", packed).records).toEqual(big.map((r) => ({ stream: "s", ...r })));
  });

  it("unpacks binary columns into views of one buffer per frame, not one copy per record", () => {
    const packed = packRecords(records, -1);
    const blob = packed.columns as Uint8Array;
    const { records: unpacked } = unpackRecords("s", packed);
    expect(unpacked[0]!.payload.buffer).toBe(blob.buffer);
    expect(unpacked[2]!.payload.buffer).toBe(blob.buffer);
  });

  it("copies a binary view of a larger buffer once, so records keep only their frame alive", () => {
    const packed = packRecords(records, -1);
    const blob = packed.columns as Uint8Array;
    const socketRead = new Uint8Array(blob.byteLength + 100);
    socketRead.set(blob, 50);
    const view = Buffer.from(socketRead.buffer, 50, blob.byteLength);
    const { records: unpacked } = unpackRecords("s", { ...packed, columns: view });
    expect(unpacked[0]!.payload.buffer.byteLength).toBe(blob.byteLength);
    expect(unpacked[0]!.payload.constructor).toBe(Uint8Array);
    expect(unpacked).toEqual(records.map((r) => ({ stream: "s", ...r })));
  });

  it("accepts an ArrayBuffer for the columns (as browsers receive attachments)", () => {
    const packed = packRecords([record(1, encode("x"))], -1);
    const buffer = (packed.columns as Uint8Array).slice().buffer;
    const { records: out } = unpackRecords("s", { ...packed, columns: buffer });
    expect(out[0]!.payload).toEqual(encode("x"));
  });

  it("rejects pages whose fields do not match with BAD_FRAME", () => {
    const page = packRecords([record(1, encode("abc")), record(2, encode("de"))], -1);
    const inline = packRecords([record(1, encode("abc"))]);
    const text = inline.columns as string;
    const column = page.columns as Uint8Array;
    const bad: unknown[] = [
      "records",
      null,
      [],
      [[1, "id", "e", 1, 0]],
      { ...page, count: 3 },
      { ...page, count: 1 },
      { ...page, count: -1 },
      { ...page, count: 1.5 },
      { ...page, first: 0 },
      { ...page, first: -1 },
      { ...page, first: Number.MAX_SAFE_INTEGER },
      { ...page, bytes: page.bytes + 1 },
      { ...page, bytes: page.bytes - 1 },
      { ...page, bytes: 1e20 },
      { ...page, ids: `${page.ids}x` },
      { ...page, ids: page.ids.slice(1) },
      { ...page, ids: 42 },
      { ...page, names: [] },
      { ...page, names: [""] },
      { ...page, names: ["e", "f", "g"] },
      { ...page, names: "e" },
      { ...page, columns: column.subarray(0, column.byteLength - 1) },
      { ...page, columns: new Uint8Array([...column, 0]) },
      { ...page, columns: 42 },
      { ...page, columns: null },
      { ...page, columns: { length: 4 } },
      { ...page, count: 10_001 },
      // Inline (base64) columns that are not canonical padded base64.
      { ...inline, columns: "payload!" },
      { ...inline, columns: "" },
      { ...inline, columns: text.slice(0, -1) },
      { ...inline, columns: `${text}AAAA` },
      { ...inline, columns: `${text.slice(0, -1)}!` },
      { ...inline, columns: ` ${text.slice(1)}` },
      { ...inline, columns: `${text.slice(0, 2)}-_${text.slice(4)}` },
    ];
    for (const wire of bad) {
      expect(() => unpackRecords("s", wire), JSON.stringify(wire)).toThrowError(badFrame);
    }
  });

  it("reads offsets up to 2^53 - 1, and pages with one encoding only (names once each, in order of first use; an empty page at 0)", () => {
    const top = Number.MAX_SAFE_INTEGER;
    for (const first of [top, top - 1]) {
      const list = [record(first, encode(1)), record(first + 1, encode(2))].filter(
        (r) => r.offset <= top,
      );
      const page = packRecords(list);
      expect(unpackRecords("s", page).records.map((r) => r.offset)).toEqual(
        list.map((r) => r.offset),
      );
      expect(() => unpackRecords("s", { ...page, count: page.count + 1 })).toThrowError(badFrame);
    }
    const two = packRecords([
      { ...record(1, encode(1)), name: "a" },
      { ...record(2, encode(2)), name: "b" },
      { ...record(3, encode(3)), name: "a" },
    ]);
    expect(two.names).toEqual(["a", "b"]);
    for (const wrong of [
      { ...two, names: ["a", "a"] },
      { ...two, names: ["a", "b", "c"] }, // one unused
      { ...packRecords([]), first: 7 },
    ]) {
      expect(() => unpackRecords("s", wrong), JSON.stringify(wrong.names)).toThrowError(badFrame);
    }
  });

  it("refuses to pack records that are not consecutive (the wire carries only the first offset)", () => {
    expect(() => packRecords([record(1, encode(1)), record(3, encode(3))])).toThrowError(
      expect.toSatisfy((e) => isAssuredError(e, "STORE_CORRUPT")),
    );
    expect(() =>
      packWireRecords(
        [
          [5, "a", "e", 0, 0],
          [5, "b", "e", 0, 0],
        ],
        new Uint8Array(0),
      ),
    ).toThrowError(expect.toSatisfy((e) => isAssuredError(e, "STORE_CORRUPT")));
  });

  const arbitraryRecords = fc.array(
    fc.record({
      // Any UTF-16 text, lone surrogates included: ids are sliced by code units.
      id: fc.string({ unit: "binary", minLength: 1, maxLength: 8 }),
      name: fc.constantFrom("a", "b", "é", "名前"),
      payload: fc.uint8Array({ maxLength: 40 }),
      time: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
    }),
    { maxLength: 20 },
  );

  it("round-trips any records in both encodings (property)", () => {
    fc.assert(
      fc.property(arbitraryRecords, fc.nat(2 ** 40), fc.boolean(), (list, base, inline) => {
        const input = list.map((r, i) => ({ ...r, offset: base + 1 + i }));
        const packed = packRecords(input, inline ? INLINE_PAYLOADS_MAX_BYTES : -1);
        expect(typeof packed.columns === "string").toBe(inline);
        const out = unpackRecords("s", packed).records;
        expect(out).toEqual(input.map((r) => ({ stream: "s", ...r })));
      }),
    );
  });

  it("never misreads a damaged page (property: a changed byte, field or length is refused or read exactly)", () => {
    fc.assert(
      fc.property(
        arbitraryRecords.filter((list) => list.length > 0),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom("byte", "cut", "grow", "count", "bytes", "ids"),
        (list, where, value, damage) => {
          const input = list.map((r, i) => ({ ...r, offset: i + 1 }));
          const page = packRecords(input, -1);
          const column = (page.columns as Uint8Array).slice();
          let wire: WirePage = page;
          if (damage === "byte") {
            column[where % column.byteLength] = value;
            wire = { ...page, columns: column };
          } else if (damage === "cut") {
            wire = { ...page, columns: column.subarray(0, where % column.byteLength) };
          } else if (damage === "grow") {
            wire = { ...page, columns: new Uint8Array([...column, value]) };
          } else if (damage === "count") {
            wire = { ...page, count: where % (page.count + 3) };
          } else if (damage === "bytes") {
            wire = { ...page, bytes: where % (page.bytes + 3) };
          } else {
            wire = { ...page, ids: page.ids.slice(0, where % (page.ids.length + 1)) };
          }
          let out: ReturnType<typeof unpackRecords>;
          try {
            out = unpackRecords("s", wire);
          } catch (error) {
            expect(isAssuredError(error, "BAD_FRAME")).toBe(true);
            return;
          }
          // Accepted: then it is a page that packs back to exactly what was received.
          const repacked = packRecords(out.records, -1);
          expect(repacked).toEqual({ ...wire, columns: columnsOf(wire) });
        },
      ),
      { numRuns: 500 },
    );
  });

  it("refuses any other string as inline columns (property: never misread, never thrown past BAD_FRAME)", () => {
    const page = packRecords([record(1, encode("abc"))]);
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        let out: ReturnType<typeof unpackRecords>;
        try {
          out = unpackRecords("s", { ...page, columns: text });
        } catch (error) {
          expect(isAssuredError(error, "BAD_FRAME")).toBe(true);
          return;
        }
        expect(text).toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
        expect(packRecords(out.records)).toEqual({ ...page, columns: text });
      }),
    );
  });
});

describe("inline base64 (Node's Buffer and the table codec agree)", () => {
  const browser = { encodeBase64: encodeBase64Table, decodeBase64: decodeBase64Table };
  /** Short text decodes with the table, longer (above 1,024 characters) with Node's Buffer. */
  const bytesOfAnySize = fc.oneof(
    fc.uint8Array({ maxLength: 50 }),
    fc.uint8Array({ minLength: 760, maxLength: 1_200 }),
  );

  it("encodes and decodes like Buffer, and refuses the same strings", () => {
    fc.assert(
      fc.property(bytesOfAnySize, fc.string({ maxLength: 12 }), (bytes, junk) => {
        const text = Buffer.from(bytes).toString("base64");
        expect(encodeBase64(bytes)).toBe(text);
        expect(browser.encodeBase64(bytes)).toBe(text);
        expect(decodeBase64(text, bytes.length)).toEqual(bytes);
        expect(browser.decodeBase64(text, bytes.length)).toEqual(bytes);
        expect(decodeBase64Text(text)).toEqual(bytes);
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

  it("accepts exactly the one canonical string of each byte array (property: a changed character is refused or read exactly)", () => {
    fc.assert(
      fc.property(
        bytesOfAnySize.filter((bytes) => bytes.length > 0),
        fc.nat(),
        fc.constantFrom("A", "B", "Q", "g", "/", "+", "=", "-", "_", " ", "é", "\u0000"),
        (bytes, where, char) => {
          const text = Buffer.from(bytes).toString("base64");
          const i = where % text.length;
          const changed = text.slice(0, i) + char + text.slice(i + 1);
          const table = browser.decodeBase64(changed, bytes.length);
          expect(decodeBase64(changed, bytes.length)).toEqual(table);
          const unsized = decodeBase64Text(changed);
          if (unsized !== undefined) expect(Buffer.from(unsized).toString("base64")).toBe(changed);
          // Accepted only as the encoding of what it decodes to: nothing else maps to it.
          if (table !== undefined) expect(Buffer.from(table).toString("base64")).toBe(changed);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("refuses set bits beyond the last byte (QR== is not A)", () => {
    expect(decodeBase64("QQ==", 1)).toEqual(new Uint8Array([65]));
    expect(decodeBase64("QR==", 1)).toBeUndefined();
    expect(decodeBase64("QUI=", 2)).toEqual(new Uint8Array([65, 66]));
    expect(decodeBase64("QUJ=", 2)).toBeUndefined();
    const long = Buffer.from(new Uint8Array(1_000).fill(65)).toString("base64");
    expect(long.endsWith("QQ==")).toBe(true);
    expect(decodeBase64(`${long.slice(0, -4)}QR==`, 1_000)).toBeUndefined();
    expect(decodeBase64(long, 1_000)).toEqual(new Uint8Array(1_000).fill(65));
  });
});
