import { encode } from "@assured/core";
import type { AppendEntry } from "@assured/core/store";
import { afterEach, describe, expect, it } from "vitest";
import { MongoEventStore, type MongoServerKind } from "../src/index.js";
import { isolatedDatabase, useClient } from "./mongo-fixture.js";

// An append of more than 100 entries that meets a duplicate key part-way: FerretDB's ordered
// insert goes on after the failed document past its internal batch of 100, so unless the store
// inserts at most 100 at a time, entries land at offsets the store then moves them from (a gap,
// an entry of its own reported as a duplicate at the wrong offset).

const client = useClient();
const opened: MongoEventStore[] = [];
const databases: string[] = [];

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  for (const database of databases.splice(0)) await client().db(database).dropDatabase();
});

function openStores(server: MongoServerKind, count: number): MongoEventStore[] {
  const database = isolatedDatabase("bigbatch");
  databases.push(database);
  return Array.from({ length: count }, () => {
    const store = new MongoEventStore({ connection: client(), database, server });
    opened.push(store);
    return store;
  });
}

const named = (id: string | undefined): AppendEntry => ({
  ...(id === undefined ? {} : { id }),
  name: "e",
  payload: encode(id ?? "-"),
});
const batch = (count: number, prefix: string) =>
  Array.from({ length: count }, (_, k) => named(`${prefix}-${k}`));

/** Every record of `stream`, as `[offset, id]`, read in one page. */
async function log(store: MongoEventStore, stream: string): Promise<[number, string][]> {
  const page = await store.read(stream, { after: 0, limit: 10_000 });
  return page.records.map((r) => [r.offset, r.id]);
}

describe.each<MongoServerKind>(["auto", "mongodb"])(
  "an append of more than 100 entries meeting a duplicate key (server: %s)",
  (server) => {
    it("an id already in the log, at index 2 of 101: the others get the next offsets, gapless", async () => {
      const [store] = openStores(server, 1);
      await store!.append("s", [named("big-2"), named(undefined)]);
      const results = await store!.append("s", batch(101, "big"));
      const expected = batch(101, "big").map((entry, k) => {
        if (k === 2) return { offset: 1, id: entry.id, duplicate: true };
        return { offset: k < 2 ? 3 + k : 2 + k, id: entry.id, duplicate: false };
      });
      expect(results.map(({ offset, id, duplicate }) => ({ offset, id, duplicate }))).toEqual(
        expected,
      );
      expect((await store!.head("s")).head).toBe(102);
      const offsets = (await log(store!, "s")).map(([offset]) => offset);
      expect(offsets).toEqual(Array.from({ length: 102 }, (_, k) => k + 1));
    });

    it("an offset another instance took meanwhile, at index 0 of 150: all 150 follow it, gapless", async () => {
      const [a, b] = openStores(server, 2);
      await b!.append("s", [named("first")]);
      // b remembers head 1; a takes offset 2, so b's next insert conflicts at its first entry.
      await a!.append("s", [named("second")]);
      const results = await b!.append("s", batch(150, "many"));
      expect(results.map((r) => [r.offset, r.duplicate])).toEqual(
        Array.from({ length: 150 }, (_, k) => [3 + k, false]),
      );
      expect(await log(a!, "s")).toEqual([
        [1, "first"],
        [2, "second"],
        ...batch(150, "many").map((entry, k): [number, string] => [3 + k, entry.id!]),
      ]);
    });
  },
);
