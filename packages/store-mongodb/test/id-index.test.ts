import { afterAll, describe, expect, it } from "vitest";
import { isolatedDatabase, isTestServer, useClient } from "./mongo-fixture.js";

const client = useClient();
const database = isolatedDatabase("idindex");

afterAll(async () => {
  await client().db(database).dropDatabase();
});

describe("the server under test", () => {
  // Heads, point reads and every dedup transition look documents up by `_id`; on a server that
  // scans for them, each lookup that misses reads the whole collection (tools/ferretdb).
  it("finds, updates and deletes a document by `_id`, through the `_id` index where the server is known", async () => {
    const collection = client().db(database).collection<{ _id: string; v: number }>("docs");
    await collection.insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: `k${i}`, v: i })));
    const explained = await collection.find({ _id: "k7" }).explain();
    const plan = JSON.stringify(explained);
    if (isTestServer) {
      // The repository's FerretDB build answers with SQLite's query plan. A FERRETDB_BIN built
      // without tools/ferretdb/build.sh fails here: its lookups scan.
      expect(plan).toMatch(/SEARCH \S+ USING INDEX \S+__id_/);
      expect(plan).not.toMatch(/detail=SCAN/);
    } else if (
      (explained as { queryPlanner?: { winningPlan?: unknown } }).queryPlanner?.winningPlan
    ) {
      // MongoDB (MONGODB_URL): the `_id` fast path or an index scan, never a collection scan.
      expect(plan).toMatch(/IDHACK|EXPRESS_IXSCAN|IXSCAN/);
      expect(plan).not.toMatch(/COLLSCAN/);
    }
    // Any other server given by MONGODB_URL (FerretDB as released, or on PostgreSQL) may scan:
    // the store works there, more slowly; the writes below hold everywhere.
    expect((await collection.updateOne({ _id: "k7" }, { $set: { v: -1 } })).modifiedCount).toBe(1);
    expect((await collection.deleteOne({ _id: "k8" })).deletedCount).toBe(1);
    expect(await collection.findOne({ _id: "k7" })).toEqual({ _id: "k7", v: -1 });
    expect(await collection.findOne({ _id: "k8" })).toBeNull();
  });
});
