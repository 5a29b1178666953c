import { createTestClock } from "@assured/conformance";
import { isAssuredError } from "@assured/core";
import type { AppendEntry } from "@assured/core/store";
import { Binary, type CommandStartedEvent, MongoClient } from "mongodb";
import { afterEach, describe, expect, it } from "vitest";
import { MongoEventStore, type MongoEventStoreOptions } from "../src/index.js";
import { isolatedDatabase, mongodbUrl, useClient } from "./mongo-fixture.js";

const client = useClient();
const opened: MongoEventStore[] = [];
const databases: string[] = [];

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  for (const database of databases.splice(0)) await client().db(database).dropDatabase();
});

function open(options: Partial<MongoEventStoreOptions> = {}): {
  store: MongoEventStore;
  database: string;
} {
  const database = isolatedDatabase("events");
  databases.push(database);
  const store = new MongoEventStore({ connection: client(), database, ...options });
  opened.push(store);
  return { store, database };
}

const entry = (id: string, bytes: number[] = [1]): AppendEntry => ({
  id,
  name: "message",
  payload: new Uint8Array(bytes),
});

describe("MongoEventStore documents", () => {
  it("stores one document per event: _id <epoch>:<offset>, stream as a value, payload as BSON Binary", async () => {
    const clock = createTestClock();
    const { store, database } = open({ clock });
    const [first] = await store.append("room:1", [entry("a", [0, 255, 0]), entry("b")]);
    const docs = await client()
      .db(database)
      .collection("assured_events")
      .find()
      .sort({ o: 1 })
      .toArray();
    expect(docs).toHaveLength(2);
    expect(docs[0]).toMatchObject({
      _id: `${first!.epoch}:0000000000000001`,
      s: "room:1",
      e: first!.epoch,
      o: 1,
      i: "a",
      n: "message",
      t: clock(),
    });
    expect(docs[0]!.p).toBeInstanceOf(Binary);
    expect([...(docs[0]!.p as Binary).buffer]).toEqual([0, 255, 0]);
    expect(docs[1]).toMatchObject({ o: 2, i: "b" });
  });

  it("gives the payload back as the exact bytes in a plain Uint8Array", async () => {
    const { store } = open();
    const bytes = Array.from({ length: 256 }, (_, i) => i);
    await store.append("s", [entry("a", bytes)]);
    const [record] = (await store.read("s", { after: 0, limit: 1 })).records;
    expect(record!.payload.constructor).toBe(Uint8Array);
    expect([...record!.payload]).toEqual(bytes);
  });

  it("creates the unique (stream, epoch, offset) and (stream, epoch, id) indexes idempotently", async () => {
    const { store, database } = open();
    await store.append("s", [entry("a")]);
    const again = new MongoEventStore({ connection: client(), database });
    opened.push(again);
    await again.append("s", [entry("b")]);
    const indexes = await client().db(database).collection("assured_events").indexes();
    const byName = new Map(indexes.map((index) => [index.name, index]));
    expect(byName.get("stream_epoch_offset")).toMatchObject({
      key: { s: 1, e: 1, o: 1 },
      unique: true,
    });
    expect(byName.get("stream_epoch_id")).toMatchObject({
      key: { s: 1, e: 1, i: 1 },
      unique: true,
    });
  });

  it("creates the epoch document atomically at the first append; head() of an unknown stream writes nothing", async () => {
    const { store, database } = open();
    expect(await store.head("never")).toEqual({ epoch: "", head: 0, earliest: 1 });
    const streams = client().db(database).collection("assured_streams");
    expect(await streams.countDocuments()).toBe(0);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, n) => store.append("s", [entry(`x${n}`)])),
    );
    const epochs = new Set(results.flat().map((r) => r.epoch));
    expect(epochs.size).toBe(1);
    expect(await streams.find().toArray()).toEqual([{ _id: "s", e: [...epochs][0], h: 0, f: 0 }]);
  });

  it("keeps hostile stream names as values: no collection or field is named after them", async () => {
    const { store, database } = open();
    const names = ["$where", "a.b", "__proto__", "{$gt: ''}", "nul\u0000byte", "system.indexes"];
    for (const name of names) await store.append(name, [entry("a")]);
    const db = client().db(database);
    const collections = (await db.listCollections().toArray()).map((c) => c.name).sort();
    expect(collections).toEqual(["assured_events", "assured_streams"]);
    const docs = await db.collection("assured_events").find().toArray();
    expect(docs.map((d) => d.s).sort()).toEqual([...names].sort());
    for (const doc of docs)
      expect(Object.keys(doc).sort()).toEqual(["_id", "e", "i", "n", "o", "p", "s", "t"]);
    for (const name of names) expect((await store.head(name)).head).toBe(1);
  });

  it("reset starts a new epoch and deletes the old epoch's documents", async () => {
    const { store, database } = open();
    const [old] = await store.append("s", [entry("a"), entry("b")]);
    await store.append("other", [entry("a")]);
    const renewed = await store.reset("s");
    expect(renewed.epoch).not.toBe(old!.epoch);
    const events = client().db(database).collection("assured_events");
    expect(await events.countDocuments({ s: "s" })).toBe(0);
    expect(await events.countDocuments({ s: "other" })).toBe(1);
    expect(
      await client()
        .db(database)
        .collection("assured_streams")
        .findOne({ _id: "s" as never }),
    ).toMatchObject({
      e: renewed.epoch,
      h: 0,
      f: 0,
    });
  });

  it("group commit: appends issued in the same tick are written by one insertMany", async () => {
    const monitored = new MongoClient(mongodbUrl, { monitorCommands: true, maxPoolSize: 4 });
    const inserts: CommandStartedEvent[] = [];
    monitored.on("commandStarted", (event) => {
      if (event.commandName === "insert" && event.command.insert === "assured_events")
        inserts.push(event);
    });
    try {
      const database = isolatedDatabase("group");
      databases.push(database);
      const store = new MongoEventStore({ connection: monitored, database });
      opened.push(store);
      await store.append("s", [entry("warm-up")]);
      inserts.length = 0;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, n) => store.append("s", [entry(`n${n}`)])),
      );
      expect(results.flat().map((r) => r.offset)).toEqual(
        Array.from({ length: 20 }, (_, n) => n + 2),
      );
      expect(inserts).toHaveLength(1);
      expect(inserts[0]!.command.documents).toHaveLength(20);
    } finally {
      await monitored.close();
    }
  });

  it("FerretDB: consecutive page reads continue one cursor (one pass over the collection), not one range query each", async () => {
    const monitored = new MongoClient(mongodbUrl, { monitorCommands: true, maxPoolSize: 4 });
    const ranges: CommandStartedEvent[] = [];
    monitored.on("commandStarted", (event) => {
      const id = (event.command.filter as { _id?: unknown } | undefined)?._id;
      if (event.commandName === "find" && typeof id === "object" && id !== null) ranges.push(event);
    });
    try {
      const database = isolatedDatabase("scan");
      databases.push(database);
      const store = new MongoEventStore({ connection: monitored, database });
      opened.push(store);
      const entries = Array.from({ length: 600 }, (_, n) => entry(`e${n}`, [n % 256]));
      for (let n = 0; n < entries.length; n += 100)
        await store.append("s", entries.slice(n, n + 100));
      const ferretdb =
        "ferretdbVersion" in (await monitored.db(database).admin().command({ buildInfo: 1 }));
      ranges.length = 0;
      const offsets: number[] = [];
      for (let after = 0; after < 600; ) {
        const page = await store.read("s", { after, limit: 100 });
        offsets.push(...page.records.map((r) => r.offset));
        after = page.records.at(-1)!.offset;
      }
      expect(offsets).toEqual(Array.from({ length: 600 }, (_, n) => n + 1));
      // MongoDB answers each page from its `_id` index; FerretDB scans per query: one cursor.
      expect(ranges).toHaveLength(ferretdb ? 1 : 6);
      // A read that does not continue it (a re-read) asks the log anew.
      const again = await store.read("s", { after: 100, limit: 100 });
      expect(again.records.map((r) => r.offset)[0]).toBe(101);
      expect(ranges).toHaveLength(ferretdb ? 2 : 7);
    } finally {
      await monitored.close();
    }
  });

  it("length retention deletes the trimmed documents (inline on MongoDB, by the sweep on FerretDB)", async () => {
    const { store, database } = open({ retention: { maxLength: 4 } });
    for (let n = 0; n < 5; n++) await store.append("s", [entry(`a${n}`), entry(`b${n}`)]);
    expect(await store.head("s")).toMatchObject({ head: 10, earliest: 7 });
    await store.sweepExpired();
    const offsets = (
      await client().db(database).collection("assured_events").find({ s: "s" }).toArray()
    )
      .map((d) => d.o as number)
      .sort((a, b) => a - b);
    expect(offsets).toEqual([7, 8, 9, 10]);
    expect(await store.head("s")).toMatchObject({ head: 10, earliest: 7 });
  });

  it("age retention by the store's clock: sweepExpired deletes old documents and the head survives", async () => {
    const clock = createTestClock();
    const { store, database } = open({ clock, retention: { maxAgeMs: 1_000 } });
    const [first] = await store.append("s", [entry("a"), entry("b")]);
    clock.advance(2_000);
    await store.append("s", [entry("c")]);
    expect(await store.sweepExpired()).toBe(2);
    const events = client().db(database).collection("assured_events");
    expect((await events.find().toArray()).map((d) => d.i)).toEqual(["c"]);
    clock.advance(2_000);
    expect(await store.sweepExpired()).toBe(1);
    expect(await events.countDocuments()).toBe(0);
    expect(await store.head("s")).toEqual({ epoch: first!.epoch, head: 3, earliest: 4 });
    const [next] = await store.append("s", [entry("d")]);
    expect(next).toMatchObject({ offset: 4, epoch: first!.epoch, duplicate: false });
  });

  it("reports which code path and expiry the server gets", async () => {
    const { store } = open();
    const support = await store.serverSupport();
    const info = await client().db("admin").command({ buildInfo: 1 });
    expect(support.kind).toBe("ferretdbVersion" in info ? "ferretdb" : "mongodb");
    expect(support.ttlIndexes).toBe(support.kind === "mongodb");
  });

  it("rejects appends beyond maxQueuedEntries with LIMIT_EXCEEDED and keeps serving", async () => {
    const { store } = open({ maxQueuedEntries: 3 });
    const first = store.append("s", [entry("a"), entry("b")]);
    const refused = store.append("s", [entry("c"), entry("d")]).catch((error: unknown) => error);
    await first;
    const error = await refused;
    expect(isAssuredError(error, "LIMIT_EXCEEDED")).toBe(true);
    expect((await store.append("s", [entry("c")]))[0]!.offset).toBe(3);
  });
});
