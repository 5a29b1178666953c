import { createTestClock } from "@assured/conformance";
import { encode } from "@assured/core";
import type { AppendEntry } from "@assured/core/store";
import { afterEach, describe, expect, it } from "vitest";
import { MongoEventStore, type MongoServerKind } from "../src/index.js";
import { isolatedDatabase, useClient } from "./mongo-fixture.js";

// An append whose batch re-appends an id the length retention already dropped, behind entries
// of its own that the same retention drops at once: freeing the id trims them too, and must not
// make the store take them for entries written into slots a concurrent trim had freed (it then
// wrote them again at later offsets).

const client = useClient();
const opened: MongoEventStore[] = [];
const databases: string[] = [];

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  for (const database of databases.splice(0)) await client().db(database).dropDatabase();
});

const named = (id: string): AppendEntry => ({ id, name: "e", payload: encode(id) });

describe.each<MongoServerKind>(["auto", "mongodb"])(
  "an append re-appending a trimmed id behind entries retention drops at once (server: %s)",
  (server) => {
    it("gives every entry the next offset, once", async () => {
      const database = isolatedDatabase("trimbatch");
      databases.push(database);
      const store = new MongoEventStore({
        connection: client(),
        database,
        server,
        clock: createTestClock(),
        retention: { maxLength: 1 },
      });
      opened.push(store);
      await store.append("s", [named("again")]);
      const results = await store.append("s", ["x", "y", "again", "z"].map(named));
      expect(results.map((r) => [r.id, r.offset, r.duplicate])).toEqual([
        ["x", 2, false],
        ["y", 3, false],
        ["again", 4, false],
        ["z", 5, false],
      ]);
      expect(await store.head("s")).toMatchObject({ head: 5, earliest: 5 });
      const page = await store.read("s", { after: 0, limit: 10 });
      expect(page.records.map((r) => [r.offset, r.id])).toEqual([[5, "z"]]);
    });
  },
);
