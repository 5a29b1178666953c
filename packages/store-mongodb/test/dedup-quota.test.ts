import { createTestClock } from "@assured/conformance";
import { isAssuredError } from "@assured/core";
import type { MongoClient } from "mongodb";
import { afterEach, describe, expect, it } from "vitest";
import { MongoDedupStore, type MongoServerKind } from "../src/index.js";
import { isolatedDatabase, newClient, useClient } from "./mongo-fixture.js";

const client = useClient();
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function isolated(): string {
  const database = isolatedDatabase("quota");
  cleanups.push(async () => {
    await client().db(database).dropDatabase();
  });
  return database;
}

const lease = { leaseMs: 5_000, fingerprint: "fp" };

describe.each(["auto", "mongodb"] as MongoServerKind[])(
  "MongoDedupStore quota (%s code path)",
  (server) => {
    it("writes the owner and the state's end into the document; a refused claim leaves none", async () => {
      const clock = createTestClock();
      const database = isolated();
      const store = new MongoDedupStore({ connection: client(), database, clock, server });
      cleanups.push(() => store.close());
      const owner = { id: "alice", maxEntries: 1 };
      const claim = await store.claim("k1", { ...lease, owner });
      if (claim.status !== "claimed") throw new Error("expected a claim");
      const dedup = client().db(database).collection("assured_dedup");
      expect(await dedup.findOne({ _id: "k1" as never })).toMatchObject({
        o: "alice",
        u: clock() + 5_000,
      });
      await store.complete(
        "k1",
        claim.token,
        { ok: true, payload: new Uint8Array() },
        {
          ttlMs: 60_000,
        },
      );
      expect(await dedup.findOne({ _id: "k1" as never })).toMatchObject({
        o: "alice",
        u: clock() + 60_000,
      });
      await expect(store.claim("k2", { ...lease, owner })).rejects.toSatisfy((e) =>
        isAssuredError(e, "QUOTA_EXCEEDED"),
      );
      expect(await dedup.findOne({ _id: "k2" as never })).toBeNull();
      expect((await store.claim("k1", { ...lease, owner })).status).toBe("done");
      const indexes = await dedup.listIndexes().toArray();
      expect(indexes.map((i) => i.name)).toContain("owner_until");
    });

    it("never leaves an owner above its quota under claims racing on several clients", async () => {
      const clock = createTestClock();
      const database = isolated();
      const clients: MongoClient[] = Array.from({ length: 4 }, () => newClient());
      const stores = clients.map(
        (c) => new MongoDedupStore({ connection: c, database, clock, server }),
      );
      cleanups.push(async () => {
        for (const store of stores) await store.close();
        for (const c of clients) await c.close();
      });
      const owner = { id: "alice", maxEntries: 10 };
      // Rounds of concurrent claims until the owner is full: the total never passes the quota.
      let held = 0;
      for (let round = 0; round < 10 && held < owner.maxEntries; round++) {
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) =>
            stores[i % stores.length]!.claim(`r${round}-${i}`, { ...lease, owner }),
          ),
        );
        for (const r of results) {
          if (r.status === "rejected")
            expect(isAssuredError(r.reason, "QUOTA_EXCEEDED")).toBe(true);
        }
        held += results.filter((r) => r.status === "fulfilled").length;
        const documents = await client()
          .db(database)
          .collection("assured_dedup")
          .countDocuments({ o: "alice" });
        expect(documents).toBe(held);
        expect(held).toBeLessThanOrEqual(owner.maxEntries);
      }
    });
  },
);
