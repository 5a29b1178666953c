import { createTestClock } from "@assured/conformance";
import { Binary } from "mongodb";
import { afterEach, describe, expect, it } from "vitest";
import { MongoDedupStore } from "../src/index.js";
import { isolatedDatabase, isTestServer, newClient, useClient } from "./mongo-fixture.js";

const client = useClient();
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function isolated(): string {
  const database = isolatedDatabase("dedup");
  cleanups.push(async () => {
    await client().db(database).dropDatabase();
  });
  return database;
}

describe("MongoDedupStore documents", () => {
  it("stores a claim as one document keyed by the key, then the response as BSON Binary", async () => {
    const clock = createTestClock();
    const database = isolated();
    const store = new MongoDedupStore({ connection: client(), database, clock });
    cleanups.push(() => store.close());
    const key = "7:user:42$where";
    const claim = await store.claim(key, { leaseMs: 5_000, fingerprint: "fp" });
    expect(claim.status).toBe("claimed");
    const token = claim.status === "claimed" ? claim.token : "";
    const dedup = client().db(database).collection("assured_dedup");
    expect(await dedup.findOne({ _id: key as never })).toMatchObject({
      f: "fp",
      st: "lease",
      tok: token,
      le: clock() + 5_000,
    });
    const before = Date.now();
    expect(
      await store.complete(
        key,
        token,
        { ok: false, payload: new Uint8Array([9, 0, 9]) },
        { ttlMs: 60_000 },
      ),
    ).toBe(true);
    const after = Date.now();
    const done = await dedup.findOne({ _id: key as never });
    expect(done).toMatchObject({ st: "done", ok: false, ex: clock() + 60_000 });
    // The stored response has a token of its own: the holder's token cannot move the key again.
    expect(done!.tok).not.toBe(token);
    expect(done!.r).toBeInstanceOf(Binary);
    expect([...(done!.r as Binary).buffer]).toEqual([9, 0, 9]);
    // Physical expiry (TTL index or sweep) uses the wall clock with the same duration.
    const expiresAt = (done!.x as Date).getTime();
    expect(expiresAt >= before + 60_000 && expiresAt <= after + 60_000).toBe(true);
  });

  it("G9: exactly one of many concurrent claims on several MongoClients wins", async () => {
    const database = isolated();
    const stores = Array.from({ length: 4 }, () => {
      const own = newClient();
      const store = new MongoDedupStore({ connection: own, database });
      cleanups.push(async () => {
        await store.close();
        await own.close();
      });
      return store;
    });
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, n) =>
        stores[n % 4]!.claim("key", { leaseMs: 30_000, fingerprint: "fp" }),
      ),
    );
    expect(results.filter((r) => r.status === "claimed")).toHaveLength(1);
    expect(results.filter((r) => r.status === "pending")).toHaveLength(23);
    expect(await client().db(database).collection("assured_dedup").countDocuments()).toBe(1);
  });

  it("takes over an expired lease with a compare-and-set: one of the concurrent claimers wins", async () => {
    const clock = createTestClock();
    const database = isolated();
    const stores = Array.from({ length: 3 }, () => {
      const store = new MongoDedupStore({ connection: client(), database, clock });
      cleanups.push(() => store.close());
      return store;
    });
    await stores[0]!.claim("key", { leaseMs: 1_000, fingerprint: "fp" });
    clock.advance(1_001);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, n) =>
        stores[n % 3]!.claim("key", { leaseMs: 1_000, fingerprint: "fp" }),
      ),
    );
    expect(results.filter((r) => r.status === "claimed")).toHaveLength(1);
  });

  it("G9: a late complete racing takeovers of its expired lease: exactly one of them wins", async () => {
    const clock = createTestClock();
    const database = isolated();
    const stores = Array.from({ length: 3 }, () => {
      const store = new MongoDedupStore({ connection: client(), database, clock });
      cleanups.push(() => store.close());
      return store;
    });
    const first = await stores[0]!.claim("key", { leaseMs: 1_000, fingerprint: "fp" });
    const token = first.status === "claimed" ? first.token : "";
    clock.advance(1_001);
    const response = { ok: true, payload: new Uint8Array([1]) };
    const [completed, ...claims] = await Promise.all([
      stores[0]!.complete("key", token, response, { ttlMs: 60_000 }),
      ...Array.from({ length: 6 }, (_, n) =>
        stores[n % 3]!.claim("key", { leaseMs: 1_000, fingerprint: "fp" }),
      ),
    ]);
    const claimed = claims.filter((c) => c.status === "claimed").length;
    expect(claimed + (completed ? 1 : 0)).toBe(1);
    const after = await stores[1]!.claim("key", { leaseMs: 1_000, fingerprint: "fp" });
    expect(after.status).toBe(completed ? "done" : "pending");
  });

  it("has a TTL index exactly where the server supports it", async () => {
    const database = isolated();
    const store = new MongoDedupStore({ connection: client(), database });
    cleanups.push(() => store.close());
    await store.claim("k", { leaseMs: 1_000, fingerprint: "fp" });
    const info = await client().db("admin").command({ buildInfo: 1 });
    const indexes = await client().db(database).collection("assured_dedup").indexes();
    const ttl = indexes.find((index) => index.name === "expire_at");
    if ("ferretdbVersion" in info) expect(ttl).toBeUndefined();
    else expect(ttl).toMatchObject({ key: { x: 1 }, expireAfterSeconds: 0 });
  });
});

describe("MongoDedupStore claimMany of keys that exist", () => {
  it("answers a batch of resent keys (pending, done, conflict) from one read, not a claim each", async () => {
    const { MongoClient } = await import("mongodb");
    const { mongodbUrl } = await import("./mongo-fixture.js");
    const monitored = new MongoClient(mongodbUrl, { monitorCommands: true, maxPoolSize: 4 });
    const commands: string[] = [];
    monitored.on("commandStarted", (event) => {
      if (event.databaseName !== "admin") commands.push(event.commandName);
    });
    cleanups.push(() => monitored.close());
    const clock = createTestClock();
    const store = new MongoDedupStore({ connection: monitored, database: isolated(), clock });
    cleanups.push(() => store.close());
    const lease = { leaseMs: 60_000, fingerprint: "fp" };
    const keys = Array.from({ length: 40 }, (_, n) => `k${n}`);
    const first = await store.claimMany(keys.map((key) => ({ key, options: lease })));
    // Half are answered, half still held; one comes back with another fingerprint.
    for (const [n, result] of first.entries()) {
      if (result.status !== "fulfilled" || result.value.status !== "claimed")
        throw new Error("claim");
      if (n % 2 === 0) {
        const response = { ok: true, payload: new Uint8Array([n]) };
        expect(
          await store.complete(keys[n]!, result.value.token, response, { ttlMs: 60_000 }),
        ).toBe(true);
      }
    }
    commands.length = 0;
    const again = await store.claimMany([
      ...keys.map((key, n) => ({
        key,
        options: n === 7 ? { ...lease, fingerprint: "other" } : lease,
      })),
      { key: "new", options: lease },
    ]);
    expect(again.map((r) => (r.status === "fulfilled" ? r.value.status : "rejected"))).toEqual([
      ...keys.map((_, n) => (n === 7 ? "conflict" : n % 2 === 0 ? "done" : "pending")),
      "claimed",
    ]);
    expect(again[2]).toMatchObject({
      value: { response: { ok: true, payload: new Uint8Array([2]) } },
    });
    // The first key found existing is claimed alone (as `claim` does); the other 39 come from one
    // read (on FerretDB one point lookup each, sent together: see `documentsById`); the new key
    // is inserted. A claim each would be at least 2 commands per key, an insert among them.
    const reads = commands.filter((name) => name === "find").length;
    expect(commands.length - reads, commands.join(",")).toBeLessThanOrEqual(4);
    expect(reads, commands.join(",")).toBeLessThanOrEqual(isTestServer ? keys.length + 2 : 4);
  });
});

describe("MongoDedupStore takeover of a lease whose state is locked (FerretDB)", () => {
  it.runIf(isTestServer)(
    "waits for a transition lock left by a dead holder to go stale, then takes the key over (no STORE_UNAVAILABLE after 20 quick rounds)",
    async () => {
      const clock = createTestClock();
      const database = isolated();
      const store = new MongoDedupStore({ connection: client(), database, clock });
      cleanups.push(() => store.close());
      const first = await store.claim("k", { leaseMs: 1_000, fingerprint: "fp" });
      if (first.status !== "claimed") throw new Error("claim");
      clock.advance(1_001);
      // A holder SIGKILLed between taking its transition lock and writing: the lease's state
      // stays locked until the lock goes stale (5 s on the store's clock).
      const doc = await client()
        .db(database)
        .collection<{ _id: string; tok: string }>("assured_dedup")
        .findOne({ _id: "k" });
      const token = doc!.tok;
      await client()
        .db(database)
        .collection<{ _id: string; t: number; x: Date }>("assured_locks")
        .insertOne({
          _id: `token:${token.length}:${token}:k`,
          t: clock(),
          x: new Date(Date.now() + 3_600_000),
        });
      let settled = false;
      const takeover = store.claim("k", { leaseMs: 1_000, fingerprint: "fp" }).finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(settled, "the claim still waits for the lock").toBe(false);
      clock.advance(5_000);
      const result = await takeover;
      expect(result.status).toBe("claimed");
      expect((result as { fencingToken: number }).fencingToken).toBeGreaterThan(first.fencingToken);
    },
    30_000,
  );
});
