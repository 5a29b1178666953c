import { isAssuredError } from "@assured/core";
import { describe, expect, it } from "vitest";
import { RedisEventStore, type RedisEventStoreOptions, streamLogKey } from "../src/index.js";
import { redisUrl, rejection, useIsolatedStores } from "./redis-fixture.js";

const stores = useIsolatedStores(
  (keyPrefix, options: Partial<RedisEventStoreOptions> = {}) =>
    new RedisEventStore({ redis: redisUrl(), keyPrefix, ...options }),
);
const open = stores.open;

/** `bytes` payload bytes, all `n`. */
const bytes = (n: number, length = 3) => new Uint8Array(length).fill(n);

/** Expects `readPacked` to give `read`'s page as wire records and their payloads, cut after `maxBytes`. */
async function expectPackedRead(
  store: RedisEventStore,
  stream: string,
  after: number,
  limit: number,
  maxBytes: number,
): Promise<void> {
  const page = await store.read(stream, { after, limit });
  let total = 0;
  const fitting = page.records.filter((record, i) => {
    total += record.payload.byteLength;
    return i === 0 || total <= maxBytes; // a prefix: total only grows
  });
  const packed = await store.readPacked(stream, { after, limit, maxBytes });
  expect(
    { ...packed, payloads: [...packed.payloads] },
    `after ${after} limit ${limit} maxBytes ${maxBytes}`,
  ).toEqual({
    epoch: page.epoch,
    head: page.head,
    earliest: page.earliest,
    records: fitting.map((r) => [r.offset, r.id, r.name, r.payload.byteLength, r.time]),
    payloads: fitting.flatMap((r) => [...r.payload]),
  });
}

describe("RedisEventStore.readPacked on a real redis-server", () => {
  it("packs UTF-8 ids and names, repeated and changing names and empty payloads as read does", async () => {
    const store = open({ clock: () => 1_234.5 });
    const names = ["message", "message", "messagf", "é", "e\u0301", "💬", "💬", "message"];
    await store.append(
      "s",
      names.map((name, i) => ({ id: `id-${i}-ü🙂`, name, payload: bytes(i, i % 3) })),
    );
    for (const [after, limit, maxBytes] of [
      [0, 100, 1_000],
      [0, 100, 5],
      [2, 3, 1],
      [7, 5, 1_000],
    ] as const) {
      await expectPackedRead(store, "s", after, limit, maxBytes);
    }
  });

  it("a reader behind earliest under length retention gets the page from earliest (read script)", async () => {
    const store = open({ retention: { maxLength: 5 } });
    await store.append(
      "r",
      Array.from({ length: 12 }, (_, i) => ({ name: "n", payload: bytes(i) })),
    );
    for (const after of [0, 3, 6, 7, 11, 12]) await expectPackedRead(store, "r", after, 3, 6);
    expect((await store.readPacked("r", { after: 1, limit: 2, maxBytes: 100 })).records).toEqual([
      [8, expect.any(String), "n", 3, expect.any(Number)],
      [9, expect.any(String), "n", 3, expect.any(Number)],
    ]);
  });

  it("age retention trims on readPacked as on read, with the injected clock", async () => {
    let now = 1_000_000;
    const store = open({ clock: () => now, retention: { maxAgeMs: 1_000 } });
    await store.append("t", [{ id: "old", name: "n", payload: bytes(1) }]);
    now += 500;
    await store.append("t", [{ id: "mid", name: "n", payload: bytes(2) }]);
    now += 600; // "old" is 1,100 ms old
    const page = await store.readPacked("t", { after: 0, limit: 10, maxBytes: 100 });
    expect(page).toMatchObject({ head: 2, earliest: 2, records: [[2, "mid", "n", 3, 1_000_500]] });
    expect(await stores.redis.hexists(streamLogKey(stores.prefix, "t"), "i:old")).toBe(0);
    await expectPackedRead(store, "t", 0, 10, 100);
    now += 10_000;
    expect(await store.readPacked("t", { after: 0, limit: 10, maxBytes: 100 })).toMatchObject({
      head: 2,
      earliest: 3,
      records: [],
    });
  });

  it("a damaged log is STORE_CORRUPT, also past the maxBytes cut, on both read paths", async () => {
    for (const retention of [{}, { maxAgeMs: 3_600_000 }]) {
      const store = open({ retention });
      const stream = `d${JSON.stringify(retention)}`;
      await store.append(
        stream,
        [1, 2, 3].map((n) => ({ name: "n", payload: bytes(n) })),
      );
      const key = streamLogKey(stores.prefix, stream);
      await stores.redis.hset(key, "3", Buffer.from([1, 2, 3]));
      const cut = { after: 0, limit: 5, maxBytes: 1 };
      expect(isAssuredError(await rejection(store.readPacked(stream, cut)), "STORE_CORRUPT")).toBe(
        true,
      );
      await stores.redis.hdel(key, "2");
      expect(isAssuredError(await rejection(store.readPacked(stream, cut)), "STORE_CORRUPT")).toBe(
        true,
      );
    }
  });

  it("rejects bad arguments before touching Redis, and is STORE_CLOSED after close", async () => {
    const store = open();
    for (const [options, code] of [
      [{ after: 0, limit: 1, maxBytes: 0 }, "INVALID_ARGUMENT"],
      [{ after: 0, limit: 1, maxBytes: 1.5 }, "INVALID_ARGUMENT"],
      [{ after: 0, limit: 1 }, "INVALID_ARGUMENT"],
      [{ after: -1, limit: 1, maxBytes: 1 }, "INVALID_OFFSET"],
      [{ after: 0, limit: 0, maxBytes: 1 }, "INVALID_ARGUMENT"],
    ] as const) {
      const error = await rejection(store.readPacked("s", options as never));
      expect(isAssuredError(error, code), JSON.stringify(options)).toBe(true);
    }
    expect(
      isAssuredError(
        await rejection(store.readPacked("", { after: 0, limit: 1, maxBytes: 1 })),
        "INVALID_STREAM",
      ),
    ).toBe(true);
    await store.close();
    expect(
      isAssuredError(
        await rejection(store.readPacked("s", { after: 0, limit: 1, maxBytes: 1 })),
        "STORE_CLOSED",
      ),
    ).toBe(true);
  });

  it("an unreachable Redis gives STORE_UNAVAILABLE", async () => {
    const store = new RedisEventStore({
      redis: { host: "127.0.0.1", port: 1, maxRetriesPerRequest: 0, retryStrategy: () => null },
    });
    const error = await rejection(store.readPacked("s", { after: 0, limit: 1, maxBytes: 1 }));
    expect(isAssuredError(error, "STORE_UNAVAILABLE")).toBe(true);
    await store.close();
  });
});
