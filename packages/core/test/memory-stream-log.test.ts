import { describe, expect, it } from "vitest";
import { MemoryStreamLog } from "../src/store-entry.js";

/** The in-memory log keeps records in columns and payloads in shared slabs; reads copy. */

const record = (offset: number, bytes: number, time = offset) => ({
  stream: "s",
  offset,
  id: `id${offset}`,
  name: offset % 2 === 0 ? "even" : "odd",
  payload: new Uint8Array(bytes).fill(offset % 256),
  time,
});

describe("MemoryStreamLog", () => {
  it("gives back every record as pushed, small payloads (slabs) and large ones (own buffers) alike", () => {
    const log = new MemoryStreamLog();
    const sizes = [0, 1, 100, 8 * 1024, 8 * 1024 + 1, 70 * 1024, 30_000, 40_000];
    const pushed = sizes.map((bytes, i) => record(i + 1, bytes));
    for (const r of pushed) log.push(r);
    expect(log.head).toBe(sizes.length);
    expect(log.size).toBe(sizes.length);
    for (const r of pushed) expect(log.at(r.offset)).toEqual(r);
    expect(log.at(0)).toBeUndefined();
    expect(log.at(sizes.length + 1)).toBeUndefined();
    expect(log.offsetOf("id3")).toBe(3);
  });

  it("copies payloads in and out: neither the pusher nor a reader can alter a stored record", () => {
    const log = new MemoryStreamLog();
    const r = record(1, 10);
    log.push(r);
    r.payload.fill(9);
    const read = log.at(1)!;
    expect([...read.payload]).toEqual(new Array(10).fill(1));
    read.payload.fill(7);
    expect([...log.at(1)!.payload]).toEqual(new Array(10).fill(1));
  });

  it("trims from the front across compactions, forgetting ids, and keeps later records intact", () => {
    const log = new MemoryStreamLog();
    for (let offset = 1; offset <= 5_000; offset++) log.push(record(offset, offset % 50));
    for (let i = 0; i < 4_000; i++) log.shift();
    expect(log.earliest).toBe(4_001);
    expect(log.size).toBe(1_000);
    expect(log.oldestTime()).toBe(4_001);
    expect(log.oldest()).toEqual(record(4_001, 4_001 % 50));
    expect(log.offsetOf("id10")).toBeUndefined();
    for (const offset of [4_001, 4_500, 5_000]) {
      expect(log.at(offset)).toEqual(record(offset, offset % 50));
    }
    log.restart("e2");
    expect({ epoch: log.epoch, head: log.head, size: log.size, earliest: log.earliest }).toEqual({
      epoch: "e2",
      head: 0,
      size: 0,
      earliest: 1,
    });
    expect(log.oldestTime()).toBeUndefined();
  });
});
