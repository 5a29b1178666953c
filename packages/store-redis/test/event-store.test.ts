import { decode, encode, isAssuredError } from "@assured/core";
import { describe, expect, it } from "vitest";
import { RedisEventStore, type RedisEventStoreOptions, streamLogKey } from "../src/index.js";
import {
  connect,
  isolatedPrefix,
  redisUrl,
  rejection,
  useIsolatedStores,
} from "./redis-fixture.js";

const stores = useIsolatedStores(
  (keyPrefix, options: Partial<RedisEventStoreOptions> = {}) =>
    new RedisEventStore({ redis: redisUrl(), keyPrefix, ...options }),
);
const open = stores.open;

function event(text: string, id?: string) {
  return id === undefined
    ? { name: "message", payload: encode({ text }) }
    : { id, name: "message", payload: encode({ text }) };
}

describe("RedisEventStore on a real redis-server", () => {
  it("an unknown stream has epoch '' head 0 earliest 1, and head() writes nothing", async () => {
    const store = open();
    expect(await store.head("never")).toEqual({ epoch: "", head: 0, earliest: 1 });
    expect(await store.read("never", { after: 0, limit: 10 })).toEqual({
      epoch: "",
      head: 0,
      earliest: 1,
      records: [],
    });
    expect(await stores.redis.exists(streamLogKey(stores.prefix, "never"))).toBe(0);
  });

  it("writes one hash per stream: meta, offset → record, id → offset", async () => {
    const store = open({ clock: () => 1_000 });
    const [first] = await store.append("room", [event("hi", "id-1")]);
    const key = streamLogKey(stores.prefix, "room");
    expect(key).toBe(`${stores.prefix}log:{${Buffer.from("room").toString("base64url")}}`);
    const stored = await stores.redis.hgetall(key);
    expect(stored.epoch).toBe(first?.epoch);
    expect(stored.head).toBe("1");
    expect(stored.earliest).toBe("1");
    expect(stored["i:id-1"]).toBe("1");
    const blob = await stores.redis.hgetBuffer(key, "1");
    expect(blob?.readDoubleBE(0)).toBe(1_000);
    expect(Object.keys(stored).sort()).toEqual(["1", "earliest", "epoch", "head", "i:id-1"]);
  });

  it("assigns consecutive offsets and round-trips every field", async () => {
    const store = open({ clock: () => 42 });
    const payload = encode({ n: 1, bin: new Uint8Array([0, 255, 10]) });
    const results = await store.append("s", [
      { id: "a", name: "one", payload },
      { name: "two", payload: new Uint8Array() },
    ]);
    expect(results.map((r) => [r.offset, r.duplicate])).toEqual([
      [1, false],
      [2, false],
    ]);
    expect(results[1]?.id).toMatch(/^[\w-]{21}$/);
    const page = await store.read("s", { after: 0, limit: 10 });
    expect(page.head).toBe(2);
    expect(page.records).toEqual([
      { stream: "s", offset: 1, id: "a", name: "one", payload, time: 42 },
      {
        stream: "s",
        offset: 2,
        id: results[1]?.id,
        name: "two",
        payload: new Uint8Array(),
        time: 42,
      },
    ]);
    expect(page.records[0]?.payload.constructor).toBe(Uint8Array);
    expect(decode(page.records[0]!.payload)).toEqual({ n: 1, bin: new Uint8Array([0, 255, 10]) });
  });

  it("a duplicate id appends nothing and returns the original offset (also within a batch)", async () => {
    const store = open();
    await store.append("s", [event("a", "x")]);
    const results = await store.append("s", [event("b", "y"), event("c", "x"), event("d", "y")]);
    expect(results.map((r) => [r.offset, r.id, r.duplicate])).toEqual([
      [2, "y", false],
      [1, "x", true],
      [2, "y", true],
    ]);
    expect((await store.head("s")).head).toBe(2);
  });

  it("reads in pages: after and limit select a consecutive window", async () => {
    const store = open();
    await store.append(
      "s",
      Array.from({ length: 25 }, (_, i) => event(`e${i + 1}`)),
    );
    const page = await store.read("s", { after: 10, limit: 5 });
    expect(page.records.map((r) => r.offset)).toEqual([11, 12, 13, 14, 15]);
    expect((await store.read("s", { after: 25, limit: 5 })).records).toEqual([]);
    expect((await store.read("s", { after: 99, limit: 5 })).records).toEqual([]);
  });

  it("group commit: appends issued in one tick go to Redis as one step per stream", async () => {
    let clockReads = 0;
    const store = open({
      clock: () => {
        clockReads++;
        return 7;
      },
    });
    const calls = Array.from({ length: 50 }, (_, i) =>
      store.append("g", [event(`${i}`), event(`${i}b`)]),
    );
    const results = await Promise.all(calls);
    // One server-side append reads the clock once: 50 calls, one group.
    expect(clockReads).toBe(1);
    // Each call keeps its entries consecutive and the calls keep their issue order.
    expect(results.flat().map((r) => r.offset)).toEqual(
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
  });

  it("group commit never splits a call: a group boundary falls between calls", async () => {
    const store = open({ maxGroupEntries: 3 });
    const results = await Promise.all([
      store.append("g", [event("1"), event("2")]),
      store.append("g", [event("3"), event("4")]),
      store.append("g", [event("5"), event("6"), event("7"), event("8")]),
    ]);
    expect(results.map((call) => call.map((r) => r.offset))).toEqual([
      [1, 2],
      [3, 4],
      [5, 6, 7, 8],
    ]);
  });

  it("G11: appends waiting for Redis are bounded; beyond the bound LIMIT_EXCEEDED", async () => {
    const store = open({ maxPendingEntries: 10_000 });
    const batch = Array.from({ length: 6_000 }, (_, i) => event(String(i)));
    const first = store.append("b", batch);
    const refused = await rejection(store.append("b", batch));
    expect(isAssuredError(refused, "LIMIT_EXCEEDED")).toBe(true);
    expect((await first).at(-1)?.offset).toBe(6_000);
    // Once the earlier append is written, there is room again.
    expect((await store.append("b", batch)).at(-1)?.offset).toBe(12_000);
  });

  it("retention by length keeps the newest maxLength events and forgets trimmed ids", async () => {
    const store = open({ retention: { maxLength: 3 } });
    await store.append("r", [event("1", "id-1"), event("2", "id-2")]);
    await store.append("r", [event("3", "id-3"), event("4", "id-4"), event("5", "id-5")]);
    const page = await store.read("r", { after: 0, limit: 10 });
    expect([page.head, page.earliest]).toEqual([5, 3]);
    expect(page.records.map((r) => r.id)).toEqual(["id-3", "id-4", "id-5"]);
    expect(await store.head("r")).toMatchObject({ head: 5, earliest: 3 });
    // A reader behind the retained log gets a page that starts at earliest.
    const behind = await store.read("r", { after: 1, limit: 2 });
    expect(behind.records.map((r) => r.offset)).toEqual([3, 4]);
    const key = streamLogKey(stores.prefix, "r");
    expect(await stores.redis.hexists(key, "i:id-1")).toBe(0);
    expect(await stores.redis.hexists(key, "1")).toBe(0);
    expect(await stores.redis.hlen(key)).toBe(3 + 3 * 2);
    // The idempotency window is the retained log: a trimmed id appends again.
    const [again] = await store.append("r", [event("1 again", "id-1")]);
    expect(again).toMatchObject({ offset: 6, duplicate: false });
  });

  it("retention by age uses the injected clock, on append and on read", async () => {
    let now = 1_000_000;
    const store = open({ clock: () => now, retention: { maxAgeMs: 1_000 } });
    await store.append("t", [event("old", "old")]);
    now += 500;
    await store.append("t", [event("mid", "mid")]);
    now += 600; // "old" is 1,100 ms old, "mid" 600 ms
    expect(await store.head("t")).toMatchObject({ head: 2, earliest: 2 });
    expect((await store.read("t", { after: 0, limit: 10 })).records.map((r) => r.id)).toEqual([
      "mid",
    ]);
    expect(await stores.redis.hexists(streamLogKey(stores.prefix, "t"), "i:old")).toBe(0);
    now += 10_000;
    const [fresh] = await store.append("t", [event("new", "new")]);
    expect(fresh?.offset).toBe(3);
    expect(await store.head("t")).toMatchObject({ head: 3, earliest: 3 });
  });

  it("a store without age retention reads a log another instance age-trimmed to empty", async () => {
    let now = 0;
    const aging = open({ clock: () => now, retention: { maxAgeMs: 10 } });
    const [first] = await aging.append("t", [event("1"), event("2")]);
    now = 100;
    expect(await aging.head("t")).toMatchObject({ head: 2, earliest: 3 });
    const plain = open();
    expect(await plain.read("t", { after: 0, limit: 10 })).toEqual({
      epoch: first?.epoch,
      head: 2,
      earliest: 3,
      records: [],
    });
  });

  it("a new store on the same keys sees the same epoch, head and events (restart)", async () => {
    const first = open();
    const [appended] = await first.append("p", [event("kept")]);
    await first.close();
    const second = open();
    expect(await second.head("p")).toEqual({ epoch: appended?.epoch, head: 1, earliest: 1 });
    expect((await second.read("p", { after: 0, limit: 1 })).records[0]?.id).toBe(appended?.id);
  });

  it("reset starts a new epoch at head 0; appends continue in it from offset 1", async () => {
    const store = open();
    const [before] = await store.append("x", [event("a", "a")]);
    const reset = await store.reset("x");
    expect(reset.epoch).not.toBe(before?.epoch);
    expect(reset).toMatchObject({ head: 0, earliest: 1 });
    expect(await store.head("x")).toEqual(reset);
    const [after] = await store.append("x", [event("a again", "a")]);
    expect(after).toMatchObject({ offset: 1, duplicate: false, epoch: reset.epoch });
  });

  it("hostile stream names stay opaque: distinct keys, one hash tag each, no collisions", async () => {
    const store = open();
    const names = ["a:b", "a}b", "{a}", "}{", "a\nb", "a\r\nb", "*", "..", "$x", "😀", "a b", "a:"];
    for (const [i, name] of names.entries()) await store.append(name, [event(String(i))]);
    const keys = names.map((name) => streamLogKey(stores.prefix, name));
    expect(new Set(keys).size).toBe(names.length);
    for (const key of keys) {
      expect(key.match(/[{}]/g)).toEqual(["{", "}"]);
      expect(key.slice(stores.prefix.length)).toMatch(/^log:\{[\w-]+\}$/);
    }
    for (const [i, name] of names.entries()) {
      const page = await store.read(name, { after: 0, limit: 10 });
      expect(page.records.map((r) => decode(r.payload))).toEqual([{ text: String(i) }]);
    }
  });

  it("G12: invalid arguments are rejected with typed errors before touching Redis", async () => {
    const store = open();
    const bad: [Promise<unknown>, string][] = [
      [store.append("", [event("x")]), "INVALID_STREAM"],
      [store.append("s", []), "INVALID_ARGUMENT"],
      [store.append("s", [{ name: "", payload: new Uint8Array() }]), "INVALID_ARGUMENT"],
      [store.append("s", [{ name: "n", payload: "text" as never }]), "INVALID_ARGUMENT"],
      [store.append("s", [{ id: "", name: "n", payload: new Uint8Array() }]), "INVALID_ARGUMENT"],
      [store.read("s", { after: -1, limit: 1 }), "INVALID_OFFSET"],
      [store.read("s", { after: 0, limit: 0 }), "INVALID_ARGUMENT"],
      [store.read("s", { after: 0, limit: 10_001 }), "INVALID_ARGUMENT"],
      [store.head("\uD800"), "INVALID_STREAM"],
    ];
    for (const [promise, code] of bad)
      expect(isAssuredError(await rejection(promise), code as never)).toBe(true);
    expect(await stores.redis.keys(`${stores.prefix}*`)).toEqual([]);
  });

  it("validates options with INVALID_ARGUMENT", () => {
    const bad: unknown[] = [
      undefined,
      {},
      { redis: 42 },
      { redis: redisUrl(), keyPrefix: "a{b" },
      { redis: redisUrl(), retention: { maxLength: 0 } },
      { redis: redisUrl(), retention: { maxAgeMs: 1.5 } },
      { redis: redisUrl(), clock: 5 },
      { redis: redisUrl(), maxGroupEntries: 0 },
      { redis: redisUrl(), maxPendingEntries: 10 },
      { redis: { keyPrefix: "app{1}:" } },
    ];
    for (const options of bad) {
      expect(() => new RedisEventStore(options as RedisEventStoreOptions)).toThrowError(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
    }
  });

  it("refuses a misspelled option name with the closest valid one; a far one gets none", () => {
    expect(() => new RedisEventStore({ redis: redisUrl(), keyPrefx: "a" } as never)).toThrow(
      'unknown option "keyPrefx" of RedisEventStore — did you mean "keyPrefix"? (see RedisEventStoreOptions).',
    );
    expect(
      () => new RedisEventStore({ redis: redisUrl(), retention: { maxage: 1 } } as never),
    ).toThrow('unknown option "maxage" of retention — did you mean "maxAgeMs"?');
    expect(() => new RedisEventStore({ redis: redisUrl(), bogus: 1 } as never)).toThrow(
      'unknown option "bogus" of RedisEventStore (see RedisEventStoreOptions).',
    );
  });

  it("refuses unknown option names, also in retention, naming them; ioredis options pass through", async () => {
    const refused = (options: unknown, name: string) =>
      expect(() => new RedisEventStore(options as RedisEventStoreOptions)).toThrowError(
        expect.objectContaining({
          code: "INVALID_ARGUMENT",
          message: expect.stringContaining(`unknown option "${name}"`),
        }),
      );
    refused({ redis: redisUrl(), bogus: 1 }, "bogus");
    refused({ redis: redisUrl(), maxEntries: 5 }, "maxEntries");
    refused({ redis: redisUrl(), retention: { maxLenght: 5 } }, "maxLenght");
    const { hostname, port } = new URL(redisUrl());
    const store = new RedisEventStore({
      redis: { host: hostname, port: Number(port), connectionName: "assured-options-test" },
      keyPrefix: isolatedPrefix(),
    });
    expect((await store.head("s")).head).toBe(0);
    await store.close();
  });

  it("STORE_CLOSED after close, and close() leaves a client passed in open", async () => {
    const client = connect();
    const store = new RedisEventStore({ redis: client, keyPrefix: isolatedPrefix() });
    await store.close();
    await store.close();
    expect(isAssuredError(await rejection(store.append("s", [event("x")])), "STORE_CLOSED")).toBe(
      true,
    );
    expect(isAssuredError(await rejection(store.head("s")), "STORE_CLOSED")).toBe(true);
    expect(await client.ping()).toBe("PONG");
    await client.quit();
  });

  it("close() writes appends already issued before quitting its own client", async () => {
    const store = open();
    const pending = store.append("c", [event("in flight")]);
    await store.close();
    expect((await pending)[0]?.offset).toBe(1);
  });

  it("an unreachable Redis gives STORE_UNAVAILABLE, never a raw driver error", async () => {
    const store = new RedisEventStore({
      redis: { host: "127.0.0.1", port: 1, maxRetriesPerRequest: 0, retryStrategy: () => null },
    });
    const error = await rejection(store.append("s", [event("x")]));
    expect(isAssuredError(error, "STORE_UNAVAILABLE")).toBe(true);
    expect(isAssuredError(await rejection(store.head("s")), "STORE_UNAVAILABLE")).toBe(true);
    await store.close();
  });

  it("a damaged log is reported as STORE_CORRUPT", async () => {
    const store = open();
    await store.append("d", [event("1"), event("2")]);
    await stores.redis.hdel(streamLogKey(stores.prefix, "d"), "1");
    expect(
      isAssuredError(await rejection(store.read("d", { after: 0, limit: 5 })), "STORE_CORRUPT"),
    ).toBe(true);
  });
});
