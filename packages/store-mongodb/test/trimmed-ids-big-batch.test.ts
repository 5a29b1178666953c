import { encode } from "@assured/core";
import type { AppendEntry } from "@assured/core/store";
import { afterEach, describe, expect, it } from "vitest";
import { MongoEventStore } from "../src/index.js";
import { isolatedDatabase, useClient } from "./mongo-fixture.js";

// Re-appending 100 or more ids whose events length retention trimmed (not yet deleted by the
// sweep): on FerretDB the store frees those ids by renaming them, and FerretDB 1.24 never
// answers a bulk of 100 or more updates, so the append hung until the store renamed in bulks
// of 50. Found by the conformance kit's model-based cases. On the detected server's code path
// (renames on FerretDB, deletes on MongoDB).

const client = useClient();
const opened: MongoEventStore[] = [];
const databases: string[] = [];

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  for (const database of databases.splice(0)) await client().db(database).dropDatabase();
});

const batch = (count: number): AppendEntry[] =>
  Array.from({ length: count }, (_, k) => ({ id: `big-${k}`, name: "e", payload: encode(k) }));

describe("a big batch of trimmed ids appended again", () => {
  it("appends 119 trimmed ids anew and answers the retained one as a duplicate", async () => {
    const database = isolatedDatabase("trimmedbig");
    databases.push(database);
    const store = new MongoEventStore({
      connection: client(),
      database,
      server: "auto",
      retention: { maxLength: 3 },
    });
    opened.push(store);
    await store.append("s", batch(120));
    await store.append("s", [
      { name: "e", payload: encode("a") },
      { id: ":", name: "e", payload: encode("b") },
    ]);
    // earliest is 120: big-119 (offset 120) is retained, big-0…big-118 were trimmed.
    const results = await store.append("s", batch(120));
    expect(results.map((r) => [r.offset, r.duplicate])).toEqual(
      batch(120).map((_, k) => (k === 119 ? [120, true] : [123 + k, false])),
    );
    expect(await store.head("s")).toMatchObject({ head: 241, earliest: 239 });
  }, 20_000);
});
