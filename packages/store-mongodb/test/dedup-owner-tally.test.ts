import { MongoClient } from "mongodb";
import { afterEach, describe, expect, it } from "vitest";
import { MongoDedupStore, type MongoServerKind } from "../src/index.js";
import { isolatedDatabase, mongodbUrl } from "./mongo-fixture.js";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A store on a client of its own that records the dedup collection's counts and finds. */
async function watchedStore(server: MongoServerKind, database = isolatedDatabase("tally")) {
  const client = new MongoClient(mongodbUrl, { maxPoolSize: 8, monitorCommands: true });
  const store = new MongoDedupStore({ connection: client, database, server });
  cleanups.push(async () => {
    await store.close();
    await client.db(database).dropDatabase();
    await client.close();
  });
  const seen = { counts: 0, finds: 0 };
  client.on("commandStarted", (event) => {
    const { command } = event;
    // countDocuments (the bound's estimatedDocumentCount is the `count` command).
    if (command.aggregate === "assured_dedup") seen.counts++;
    if (command.find === "assured_dedup") seen.finds++;
  });
  return { store, seen, database };
}

function claims(prefix: string, n: number, maxEntries: number) {
  const owner = { id: "alice", maxEntries };
  return Array.from({ length: n }, (_, i) => ({
    key: `${prefix}${i}`,
    options: { leaseMs: 30_000, fingerprint: "fp", owner },
  }));
}

function tokens(results: Awaited<ReturnType<MongoDedupStore["claimMany"]>>) {
  return results.map((r) => {
    if (r.status !== "fulfilled" || r.value.status !== "claimed") throw new Error("not claimed");
    return r.value.token;
  });
}

describe.each(["ferretdb", "mongodb"] as MongoServerKind[])(
  "MongoDedupStore owner quota by counters (%s code path)",
  (server) => {
    it("counts an owner's documents once, not at every batch, while far from its quota", async () => {
      const { store, seen } = await watchedStore(server);
      for (let batch = 0; batch < 5; batch++) {
        const results = await store.claimMany(claims(`b${batch}-`, 20, 1_000));
        expect(results.every((r) => r.status === "fulfilled")).toBe(true);
      }
      // The first batch takes a baseline (one count); before, each batch counted (5).
      expect(seen.counts).toBe(1);
    });

    it("still refuses exactly at the quota, seeing the claims of another instance", async () => {
      const { store: a, database } = await watchedStore(server);
      const { store: b } = await watchedStore(server, database);
      // A takes its baseline far from the quota; B then fills it up to one place.
      expect((await a.claimMany(claims("a", 2, 10))).every((r) => r.status === "fulfilled")).toBe(
        true,
      );
      const filled = await b.claimMany(claims("b", 7, 10));
      expect(filled.every((r) => r.status === "fulfilled")).toBe(true);
      const last = await a.claimMany(claims("c", 3, 10));
      expect(last.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected"]);
      const refused = last[1]!;
      expect(refused.status === "rejected" && (refused.reason as { code: string }).code).toBe(
        "QUOTA_EXCEEDED",
      );
      // A released place is found again by a count (the counters only ever grow).
      expect(await b.release("b0", tokens(filled)[0]!)).toBe(true);
      expect((await a.claimMany(claims("d", 2, 10))).map((r) => r.status)).toEqual([
        "fulfilled",
        "rejected",
      ]);
    });
  },
);
