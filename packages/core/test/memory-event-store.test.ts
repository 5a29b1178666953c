import { describe, expect, it } from "vitest";
import {
  AssuredError,
  createMemoryBackend,
  DEFAULT_MEMORY_MAX_LENGTH,
  MemoryEventStore,
} from "../src/index.js";
import { MAX_APPEND_BATCH } from "../src/store-entry.js";

const bytes = (...values: number[]) => new Uint8Array(values);
const entry = (id?: string) => ({
  ...(id === undefined ? {} : { id }),
  name: "e",
  payload: bytes(1),
});
const entries = (n: number) => Array.from({ length: n }, () => entry());

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(AssuredError);
    return (error as AssuredError).code;
  }
}

describe("MemoryEventStore", () => {
  it("assigns gapless offsets 1, 2, 3… and creates the epoch with the first append", async () => {
    const store = new MemoryEventStore();
    expect(await store.head("s")).toEqual({ epoch: "", head: 0, earliest: 1 });
    const results = await store.append("s", entries(3));
    expect(results.map((r) => r.offset)).toEqual([1, 2, 3]);
    const epoch = results[0]!.epoch;
    expect(epoch).not.toBe("");
    expect(results.every((r) => r.epoch === epoch && !r.duplicate)).toBe(true);
    expect(await store.head("s")).toEqual({ epoch, head: 3, earliest: 1 });
  });

  it("G3: an id the stream holds is a duplicate, also twice within one batch", async () => {
    const store = new MemoryEventStore();
    await store.append("s", [entry("a")]);
    const results = await store.append("s", [entry("b"), entry("a"), entry("b")]);
    expect(results.map((r) => [r.offset, r.duplicate])).toEqual([
      [2, false],
      [1, true],
      [2, true],
    ]);
    expect((await store.head("s")).head).toBe(2);
  });

  it("defaults to keeping the newest 10,000 events per stream", async () => {
    const store = new MemoryEventStore();
    await store.append("s", entries(MAX_APPEND_BATCH));
    await store.append("s", entries(5));
    expect(await store.head("s")).toMatchObject({ head: 10_005, earliest: 6 });
    expect(DEFAULT_MEMORY_MAX_LENGTH).toBe(10_000);
  });

  it("trims by age with the injected clock on read and head, keeping offsets", async () => {
    let now = 1_000;
    const store = new MemoryEventStore({ clock: () => now, retention: { maxAgeMs: 100 } });
    await store.append("s", entries(2));
    now = 1_050;
    await store.append("s", entries(1));
    now = 1_101;
    const page = await store.read("s", { after: 0, limit: 10 });
    expect(page.records.map((r) => [r.offset, r.time])).toEqual([[3, 1_050]]);
    expect(page.earliest).toBe(3);
    now = 1_200;
    expect(await store.head("s")).toMatchObject({ head: 3, earliest: 4 });
  });

  it("forgets a trimmed id, so the same id appends again", async () => {
    const store = new MemoryEventStore({ retention: { maxLength: 1 } });
    await store.append("s", [entry("a"), entry("b")]);
    const [again] = await store.append("s", [entry("a")]);
    expect(again).toMatchObject({ offset: 3, duplicate: false });
  });

  it("copies payloads in and out, so callers cannot alter stored records", async () => {
    const store = new MemoryEventStore();
    const payload = bytes(1, 2, 3);
    await store.append("s", [{ name: "e", payload }]);
    payload[0] = 9;
    const first = await store.read("s", { after: 0, limit: 1 });
    first.records[0]!.payload[1] = 9;
    const second = await store.read("s", { after: 0, limit: 1 });
    expect([...second.records[0]!.payload]).toEqual([1, 2, 3]);
  });

  it("shares logs between instances on one backend and reports it in capabilities", async () => {
    const backend = createMemoryBackend();
    const a = new MemoryEventStore({ backend });
    const b = new MemoryEventStore({ backend });
    const [first] = await a.append("s", entries(1));
    await a.close();
    expect(await b.head("s")).toEqual({ epoch: first!.epoch, head: 1, earliest: 1 });
    expect(b.capabilities).toMatchObject({ sharedAcrossInstances: true, persistent: true });
    expect(new MemoryEventStore().capabilities).toMatchObject({
      sharedAcrossInstances: false,
      persistent: false,
    });
  });

  it("G11: bounds the number of streams with LIMIT_EXCEEDED, leaving existing ones usable", async () => {
    const store = new MemoryEventStore({ maxStreams: 2 });
    await store.append("a", entries(1));
    await store.reset("b");
    expect(await codeOf(store.append("c", entries(1)))).toBe("LIMIT_EXCEEDED");
    expect(await codeOf(store.reset("c"))).toBe("LIMIT_EXCEEDED");
    expect((await store.append("a", entries(1)))[0]!.offset).toBe(2);
    expect(await store.head("c")).toEqual({ epoch: "", head: 0, earliest: 1 });
  });

  it("G12: rejects a batch with one bad entry without appending any of it", async () => {
    const store = new MemoryEventStore();
    await store.append("s", entries(1));
    const bad = [entry(), { name: "e", payload: "text" }] as never;
    expect(await codeOf(store.append("s", bad))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(store.append("s", entries(MAX_APPEND_BATCH + 1)))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(store.read("s", { after: -1, limit: 1 }))).toBe("INVALID_OFFSET");
    expect(await codeOf(store.head(""))).toBe("INVALID_STREAM");
    expect((await store.head("s")).head).toBe(1);
  });

  it("validates its options", () => {
    expect(() => new MemoryEventStore({ retention: { maxLength: 0 } })).toThrow(AssuredError);
    expect(() => new MemoryEventStore({ retention: { maxAgeMs: 1.5 } })).toThrow(AssuredError);
    expect(() => new MemoryEventStore({ maxStreams: -1 })).toThrow(AssuredError);
    expect(() => new MemoryEventStore({ clock: 5 as never })).toThrow(AssuredError);
  });

  it("refuses unknown option names, also in retention, with INVALID_ARGUMENT naming them", () => {
    expect(() => new MemoryEventStore({ bogus: 1 } as never)).toThrowError(
      expect.objectContaining({
        code: "INVALID_ARGUMENT",
        message: expect.stringContaining('"bogus"'),
      }),
    );
    expect(() => new MemoryEventStore({ retention: { maxLenght: 5 } } as never)).toThrowError(
      expect.objectContaining({
        code: "INVALID_ARGUMENT",
        message: expect.stringContaining('"maxLenght" of retention — did you mean "maxLength"?'),
      }),
    );
    expect(() => new MemoryEventStore(null as never)).toThrowError(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });

  it("rejects every method with STORE_CLOSED after close, which is idempotent", async () => {
    const store = new MemoryEventStore();
    await store.close();
    await store.close();
    expect(await codeOf(store.append("s", entries(1)))).toBe("STORE_CLOSED");
    expect(await codeOf(store.read("s", { after: 0, limit: 1 }))).toBe("STORE_CLOSED");
    expect(await codeOf(store.head("s"))).toBe("STORE_CLOSED");
    expect(await codeOf(store.reset("s"))).toBe("STORE_CLOSED");
  });
});
