import { describe, expect, it } from "vitest";
import { encode } from "../src/index.js";
import {
  packRecords,
  parseBatchFrame,
  parseFetchReply,
  parseHeadsReply,
  parseSubscribedFrame,
} from "../src/protocol-entry.js";

const records = [1, 2, 3].map((offset) => ({
  offset,
  id: `e${offset}`,
  name: "tick",
  payload: encode({ offset }),
  time: 5,
}));

describe("frame parsers (client side, G12)", () => {
  const packBinary = (list: typeof records) => {
    const packed = packRecords(list, -1);
    return { ...packed, columns: packed.columns as Uint8Array };
  };

  it("unpacks a batch frame into records, with payloads as plain Uint8Array", () => {
    const packed = packBinary(records);
    const batch = parseBatchFrame({
      stream: "s",
      epoch: "e",
      records: { ...packed, columns: Buffer.from(packed.columns) },
    });
    expect(batch.records.map((r) => r.offset)).toEqual([1, 2, 3]);
    expect(batch.records[1]?.payload).toEqual(records[1]?.payload);
    expect(batch.records[1]?.payload.constructor).toBe(Uint8Array);
    expect(batch.records[0]?.stream).toBe("s");
  });

  it("unpacks a batch frame with inline (base64) columns", () => {
    const packed = packRecords(records);
    expect(typeof packed.columns).toBe("string");
    const batch = parseBatchFrame({ stream: "s", epoch: "e", records: packed });
    expect(batch.records.map((r) => r.offset)).toEqual([1, 2, 3]);
    expect(batch.records[2]?.payload).toEqual(records[2]?.payload);
    expect(batch.records[2]?.payload.constructor).toBe(Uint8Array);
  });

  it("accepts columns that arrive as an ArrayBuffer (browsers)", () => {
    const packed = packBinary(records);
    const buffer = packed.columns.buffer.slice(0) as ArrayBuffer;
    const batch = parseBatchFrame({
      stream: "s",
      epoch: "e",
      records: { ...packed, columns: buffer },
    });
    expect(batch.records).toHaveLength(3);
  });

  it("rejects offset 0, bad names, mismatched columns and the v1 record arrays as BAD_FRAME", () => {
    const packed = packBinary(records);
    const bad = [
      { stream: "s", epoch: "e", records: { ...packed, count: 2 } },
      { stream: "s", epoch: "e", records: { ...packed, columns: packed.columns.subarray(1) } },
      { stream: "s", epoch: "e", records: { ...packed, names: [""] } },
      { stream: "s", epoch: "e", records: [[1, "id", "e", 0, 0]], payloads: "" },
      { stream: "", epoch: "e", records: packRecords([]) },
      { stream: "s", epoch: 7, records: packRecords([]) },
      "garbage",
      null,
    ];
    for (const frame of bad)
      expect(() => parseBatchFrame(frame)).toThrow(expect.objectContaining({ code: "BAD_FRAME" }));
    const zero = { ...packRecords(records), first: 0 };
    expect(() => parseBatchFrame({ stream: "s", epoch: "e", records: zero })).toThrow(/malformed/);
  });

  it("parses subscribed frames and rejects unknown reasons", () => {
    const frame = {
      stream: "s",
      epoch: "e",
      recovered: false,
      reason: "trimmed",
      start: 4,
      head: 4,
    };
    const empty = { records: packRecords([]) };
    expect(parseSubscribedFrame({ ...frame, ...empty })).toEqual({ ...frame, records: [] });
    expect(() => parseSubscribedFrame({ ...frame, ...empty, reason: "because" })).toThrow(
      /malformed/,
    );
    expect(() => parseSubscribedFrame({ ...frame, ...empty, start: -1 })).toThrow(/malformed/);
    // v2: the first page travels with the outcome, starting right after `start`.
    expect(() => parseSubscribedFrame(frame)).toThrow(/malformed/);
    const page = packRecords(records.map((r) => ({ ...r, offset: r.offset + 4 })));
    const parsed = parseSubscribedFrame({ ...frame, records: page, head: 7 });
    expect(parsed.records?.map((r) => r.offset)).toEqual([5, 6, 7]);
    expect(() =>
      parseSubscribedFrame({ ...frame, records: packRecords(records), head: 7 }),
    ).toThrow(/malformed/);
  });

  it("parses fetch and heads replies, including errors", () => {
    const packed = packRecords(records);
    const ok = parseFetchReply("s", {
      ok: true,
      epoch: "e",
      head: 3,
      earliest: 1,
      records: packed,
    });
    expect(ok.ok && ok.records.map((r) => r.offset)).toEqual([1, 2, 3]);
    expect(
      parseFetchReply("s", { ok: false, error: { code: "UNAUTHORIZED", message: "no" } }),
    ).toEqual({
      ok: false,
      error: { code: "UNAUTHORIZED", message: "no" },
    });
    const heads = parseHeadsReply({
      ok: true,
      heads: { a: { epoch: "e", head: 2 }, b: { epoch: 1 } },
    });
    expect(heads.ok && { ...heads.heads }).toEqual({ a: { epoch: "e", head: 2 } });
    expect(() => parseHeadsReply(42)).toThrow(/malformed/);
  });
});
