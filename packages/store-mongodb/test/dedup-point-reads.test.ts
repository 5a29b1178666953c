import { MongoClient } from "mongodb";
import { afterEach, describe, expect, it } from "vitest";
import { MongoDedupStore, type MongoServerKind } from "../src/index.js";
import { isolatedDatabase, mongodbUrl } from "./mongo-fixture.js";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A store on a client of its own that records the filter of every `find` of the dedup collection. */
async function watchedStore(server: MongoServerKind) {
  const client = new MongoClient(mongodbUrl, { maxPoolSize: 8, monitorCommands: true });
  const database = isolatedDatabase("point_reads");
  const store = new MongoDedupStore({ connection: client, database, server });
  cleanups.push(async () => {
    await store.close();
    await client.db(database).dropDatabase();
    await client.close();
  });
  const filters: unknown[] = [];
  client.on("commandStarted", (event) => {
    if (event.commandName === "find" && event.command.find === "assured_dedup") {
      filters.push(event.command.filter);
    }
  });
  return { store, filters };
}

const options = { leaseMs: 30_000, fingerprint: "fp" };
const response = { ok: true, payload: new Uint8Array([1]) };

/** Claims a, b, c; then d, a, b, c (a's insert stops the batch, b and c are read ahead); completes all. */
async function claimAndComplete(store: MongoDedupStore): Promise<void> {
  const first = await store.claimMany(["a", "b", "c"].map((key) => ({ key, options })));
  const again = await store.claimMany(["d", "a", "b", "c"].map((key) => ({ key, options })));
  expect(again.map((r) => r.status === "fulfilled" && r.value.status)).toEqual([
    "claimed",
    "pending",
    "pending",
    "pending",
  ]);
  const tokens = [...first, again[0]!].map((r) => {
    if (r.status !== "fulfilled" || r.value.status !== "claimed") throw new Error("not claimed");
    return r.value.token;
  });
  const done = await store.completeMany(
    ["a", "b", "c", "d"].map((key, i) => ({
      key,
      token: tokens[i]!,
      response,
      options: { ttlMs: 60_000 },
    })),
  );
  expect(done.map((r) => r.status === "fulfilled" && r.value)).toEqual([true, true, true, true]);
}

describe("MongoDedupStore: how batches read several documents", () => {
  it("reads each by a point lookup on _id on the FerretDB code path (FerretDB scans the collection for any other filter)", async () => {
    const { store, filters } = await watchedStore("ferretdb");
    await claimAndComplete(store);
    expect(filters.length).toBeGreaterThan(0);
    for (const filter of filters) {
      expect(filter, JSON.stringify(filter)).toEqual({ _id: expect.any(String) });
    }
  });

  it("reads a batch's documents with one $in query on the MongoDB code path", async () => {
    const { store, filters } = await watchedStore("mongodb");
    await claimAndComplete(store);
    const batched = filters.filter((f) => typeof (f as { _id?: unknown })._id === "object");
    expect(batched.length, JSON.stringify(filters)).toBeGreaterThan(0);
  });
});
