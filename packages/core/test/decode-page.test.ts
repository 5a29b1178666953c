import { describe, expect, it } from "vitest";
import { AssuredError, decode, encode } from "../src/index.js";
import { lastCheckedHadBinary } from "../src/msgpack-bounds.js";
import {
  decodeConcatenated,
  decodeRecord,
  packRecords,
  parseFetchReply,
} from "../src/protocol-entry.js";
import { decodeBase64Text } from "../src/wire-base64.js";

/** A page's payloads decoded in one pass: the same values as one `decode` per payload. */

const values = [
  { text: "hi", n: 1 },
  [1, "two", null],
  new Uint8Array([1, 2, 3]),
  { nested: { bytes: new Uint16Array([7, 8]), when: new Date(5) } },
  "plain",
];

function pageOf(payloads: Uint8Array[]) {
  const records = payloads.map((payload, i) => ({
    offset: i + 1,
    id: `id${i + 1}`,
    name: "e",
    payload,
    time: 0,
  }));
  const packed = packRecords(records);
  // The payloads of a page, concatenated: the first `bytes` of its column.
  const column =
    typeof packed.columns === "string" ? decodeBase64Text(packed.columns)! : packed.columns;
  return { records: packed, payloads: column.subarray(0, packed.bytes) };
}

describe("decodeConcatenated", () => {
  it("decodes every payload of a page as decode does, binaries owning their bytes", () => {
    const payloads = values.map(encode);
    const { payloads: page } = pageOf(payloads);
    const decoded = decodeConcatenated(
      page,
      payloads.map((p) => p.byteLength),
    );
    expect(decoded).toEqual(payloads.map(decode));
    const bytes = decoded[2] as Uint8Array;
    expect(bytes.buffer.byteLength).toBe(3); // a copy, not a view into the page
  });

  it("copies binaries wherever they are in a page, and leaves pages without any as decoded", () => {
    // The bin is the last value's, nested: the one-pass check notes it across the page.
    const payloads = [encode({ text: "Ĥ\u00c4" }), encode([1, { deep: new Uint8Array([9, 8]) }])];
    const { payloads: page } = pageOf(payloads);
    const decoded = decodeConcatenated(
      page,
      payloads.map((p) => p.byteLength),
    );
    expect(decoded).toEqual(payloads.map(decode));
    const deep = (decoded[1] as [number, { deep: Uint8Array }])[1].deep;
    expect(deep.buffer.byteLength).toBe(2);
    page.fill(0);
    expect([...deep]).toEqual([9, 8]);
    // Single payloads too: a nested bin is a copy.
    const alone = decode(encode({ a: [new Uint8Array([5])] })) as { a: Uint8Array[] };
    expect(alone.a[0]!.buffer.byteLength).toBe(1);
    // Strings whose bytes look like bin headers (0xc4–0xc6) hold no binary.
    expect(lastCheckedHadBinary()).toBe(true);
    decode(encode("\u0104\u0105\u0106"));
    expect(lastCheckedHadBinary()).toBe(false);
  });

  it("stops before the first payload that is not exactly one value, and on lengths that do not add up", () => {
    const payloads = [encode(1), encode("two"), new Uint8Array([0xc1]), encode(4)];
    const { payloads: page } = pageOf(payloads);
    const lengths = payloads.map((p) => p.byteLength);
    expect(decodeConcatenated(page, lengths)).toEqual([1, "two"]);
    // Two values in one payload's bytes: not one value each.
    const joined = new Uint8Array([...encode(1), ...encode(2)]);
    expect(decodeConcatenated(joined, [joined.byteLength])).toEqual([]);
    expect(decodeConcatenated(page, [1])).toEqual([]);
    // A container header announcing more than the payload holds.
    expect(decodeConcatenated(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]), [5])).toEqual([]);
  });

  it("a fetch reply's records carry their decoded payloads; a bad one still fails alone at its turn", () => {
    const payloads = [encode({ a: 1 }), new Uint8Array([0xc1]), encode("after")];
    const page = pageOf(payloads);
    const reply = parseFetchReply("s", {
      ok: true,
      epoch: "e",
      head: 3,
      earliest: 1,
      records: page.records,
    });
    if (!reply.ok) throw new Error("parsed as a refusal");
    expect(decodeRecord(reply.records[0]!)).toEqual({ a: 1 });
    expect(() => decodeRecord(reply.records[1]!)).toThrow(AssuredError);
    expect(decodeRecord(reply.records[2]!)).toBe("after");
    // The record's string-keyed fields are those of any EventRecord.
    expect({ ...reply.records[0] }).toMatchObject({
      stream: "s",
      offset: 1,
      id: "id1",
      name: "e",
      payload: payloads[0],
      time: 0,
    });
  });
});
