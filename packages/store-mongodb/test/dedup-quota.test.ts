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

    it("leaves the fencing token as it was when the quota refuses a takeover: the next claim's follows it", async () => {
      const clock = createTestClock();
      const database = isolated();
      const store = new MongoDedupStore({ connection: client(), database, clock, server });
      cleanups.push(() => store.close());
      const owner = { id: "alice", maxEntries: 1 };
      const first = await store.claim("k", { ...lease, owner });
      if (first.status !== "claimed") throw new Error("expected a claim");
      clock.advance(lease.leaseMs);
      const other = await store.claim("other", { ...lease, owner });
      expect(other.status).toBe("claimed");
      // Takes k over, counts two entries for alice, withdraws: no claim happened.
      await expect(store.claim("k", { ...lease, owner })).rejects.toSatisfy((e) =>
        isAssuredError(e, "QUOTA_EXCEEDED"),
      );
      const dedup = client().db(database).collection("assured_dedup");
      expect(await dedup.findOne({ _id: "k" as never })).toMatchObject({ fc: first.fencingToken });
      clock.advance(lease.leaseMs);
      const next = await store.claim("k", { ...lease, owner });
      expect(next.status).toBe("claimed");
      expect(next.status === "claimed" && next.fencingToken).toBeGreaterThan(first.fencingToken);
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

const limit = (e: unknown) => isAssuredError(e, "LIMIT_EXCEEDED");
const response = { ok: true, payload: new Uint8Array([1]) };

describe.each(["auto", "mongodb"] as MongoServerKind[])(
  "MongoDedupStore maxEntries (%s code path)",
  (server) => {
    it("refuses new keys beyond maxEntries; live keys still answer; expiry and release free room", async () => {
      const clock = createTestClock();
      const database = isolated();
      const store = new MongoDedupStore({
        connection: client(),
        database,
        clock,
        server,
        maxEntries: 3,
      });
      cleanups.push(() => store.close());
      const dedup = client().db(database).collection("assured_dedup");
      const alice = { id: "alice", maxEntries: 10 };
      const bob = { id: "bob", maxEntries: 10 };
      const a = await store.claim("a", { ...lease, owner: alice });
      const b = await store.claim("b", { ...lease, owner: bob });
      const c = await store.claim("c", lease);
      if (a.status !== "claimed" || b.status !== "claimed" || c.status !== "claimed") {
        throw new Error("expected claims");
      }
      // Full: every owner (and no owner) is refused a new key, and nothing is written.
      for (const owner of [alice, bob, { id: "carol", maxEntries: 10 }, undefined]) {
        await expect(
          store.claim("new", { ...lease, ...(owner === undefined ? {} : { owner }) }),
        ).rejects.toSatisfy(limit);
      }
      expect(await dedup.countDocuments({})).toBe(3);
      // An owner at its quota hears so first (final), as in the other stores.
      await expect(
        store.claim("new", { ...lease, owner: { id: "alice", maxEntries: 1 } }),
      ).rejects.toSatisfy((e) => isAssuredError(e, "QUOTA_EXCEEDED"));
      // Keys holding an entry still answer.
      expect(await store.claim("a", { ...lease, owner: alice })).toMatchObject({
        status: "pending",
      });
      expect(await store.claim("c", { ...lease, fingerprint: "other" })).toEqual({
        status: "conflict",
      });
      expect(await store.complete("a", a.token, response, { ttlMs: 60_000 })).toBe(true);
      expect((await store.claim("a", { ...lease, owner: alice })).status).toBe("done");
      // Release frees a place at once.
      expect(await store.release("b", b.token)).toBe(true);
      expect((await store.claim("d", { ...lease, owner: bob })).status).toBe("claimed");
      await expect(store.claim("e", lease)).rejects.toSatisfy(limit);
      // Leases end (c, d): a claim at the bound deletes them; the response (a) still counts.
      clock.advance(5_000);
      expect((await store.claim("e", lease)).status).toBe("claimed");
      expect(await dedup.findOne({ _id: "c" as never })).toBeNull();
      expect((await store.claim("f", { ...lease, owner: bob })).status).toBe("claimed");
      await expect(store.claim("g", { ...lease, owner: alice })).rejects.toSatisfy(limit);
      expect((await store.claim("a", { ...lease, owner: alice })).status).toBe("done");
      clock.advance(60_000);
      expect((await store.claim("g", { ...lease, owner: alice })).status).toBe("claimed");
      expect(await dedup.countDocuments({})).toBe(1);
      const indexes = await dedup.listIndexes().toArray();
      expect(indexes.map((i) => i.name)).toContain("until");
    });

    it("passes the bound by at most the claims racing near it, then refuses every new key", async () => {
      const clock = createTestClock();
      const database = isolated();
      const first = new MongoDedupStore({
        connection: client(),
        database,
        clock,
        server,
        maxEntries: 5,
      });
      cleanups.push(() => first.close());
      for (let i = 0; i < 4; i++) {
        expect((await first.claim(`pre${i}`, lease)).status).toBe("claimed");
      }
      const clients: MongoClient[] = Array.from({ length: 3 }, () => newClient());
      const stores = clients.map(
        (c) => new MongoDedupStore({ connection: c, database, clock, server, maxEntries: 5 }),
      );
      cleanups.push(async () => {
        for (const store of stores) await store.close();
        for (const c of clients) await c.close();
      });
      const racing = await Promise.allSettled(
        stores.map((store, i) => store.claim(`race${i}`, lease)),
      );
      const won = racing.filter((r) => r.status === "fulfilled").length;
      expect(won).toBeGreaterThanOrEqual(1);
      expect(won).toBeLessThanOrEqual(stores.length);
      for (const r of racing) if (r.status === "rejected") expect(r.reason).toSatisfy(limit);
      for (const store of [first, ...stores]) {
        await expect(store.claim("late", lease)).rejects.toSatisfy(limit);
      }
      const documents = await client().db(database).collection("assured_dedup").countDocuments({});
      expect(documents).toBe(4 + won);
    });

    it("validates maxEntries", () => {
      for (const maxEntries of [0, -1, 1.5, Number.NaN, "10"]) {
        expect(
          () =>
            new MongoDedupStore({
              connection: client(),
              database: "unused",
              maxEntries: maxEntries as number,
            }),
        ).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
      }
    });
  },
);
