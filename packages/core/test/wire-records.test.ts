import { describe, expect, it } from "vitest";
import { encode, isAssuredError } from "../src/index.js";
import { packRecords, unpackRecords } from "../src/protocol-entry.js";

const record = (offset: number, payload: Uint8Array) => ({
  offset,
  id: `id-${offset}`,
  name: "e",
  payload,
  time: 1_700_000_000_000 + offset,
});

describe("packRecords / unpackRecords", () => {
  it("round-trips records with one payloads attachment, empty payloads included", () => {
    const records = [
      record(1, encode({ a: 1 })),
      record(2, new Uint8Array(0)),
      record(3, encode(new Uint8Array([1, 2, 3]))),
    ];
    const packed = packRecords(records);
    expect(packed.records.map((r) => r[3])).toEqual(records.map((r) => r.payload.byteLength));
    expect(packed.payloads.byteLength).toBe(records.reduce((n, r) => n + r.payload.byteLength, 0));
    const unpacked = unpackRecords("s", packed.records, packed.payloads);
    expect(unpacked).toEqual(records.map((r) => ({ stream: "s", ...r })));
  });

  it("accepts an ArrayBuffer for payloads (as browsers receive attachments)", () => {
    const packed = packRecords([record(1, encode("x"))]);
    const buffer = packed.payloads.slice().buffer;
    expect(unpackRecords("s", packed.records, buffer)[0]!.payload).toEqual(encode("x"));
  });

  it("rejects records and payloads that do not match with BAD_FRAME", () => {
    const packed = packRecords([record(1, encode("abc"))]);
    const bad: [unknown, unknown][] = [
      [packed.records, new Uint8Array(0)],
      [packed.records, new Uint8Array(100)],
      [packed.records, "payloads"],
      ["records", packed.payloads],
      [[[1, "id", "e", -1, 0]], packed.payloads],
      [[[1, "id", "e", 1.5, 0]], packed.payloads],
      [[[1, "id", "e"]], packed.payloads],
      [[[1, 2, "e", 1, 0]], packed.payloads],
    ];
    for (const [records, payloads] of bad) {
      expect(() => unpackRecords("s", records, payloads)).toThrowError(
        expect.toSatisfy((e) => isAssuredError(e, "BAD_FRAME")),
      );
    }
  });
});
