import { createTestClock, type TestClock } from "@assured/conformance";
import type { ClaimResult } from "@assured/core/store";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MongoDedupStore, type MongoServerKind } from "../src/index.js";
import { isolatedDatabase, useClient } from "./mongo-fixture.js";

const client = useClient();
const cleanups: (() => Promise<void>)[] = [];
const HOUR = 3_600_000;
const lease = { leaseMs: 1_000, fingerprint: "fp" };
const response = { ok: true, payload: new Uint8Array([1]) };

afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function isolated(): string {
  const database = isolatedDatabase("dedupren");
  cleanups.push(async () => {
    await client().db(database).dropDatabase();
  });
  return database;
}

function open(database: string, options: { clock?: TestClock; server?: MongoServerKind } = {}) {
  const store = new MongoDedupStore({ connection: client(), database, ...options });
  cleanups.push(() => store.close());
  return store;
}

function claimed(claim: ClaimResult) {
  if (claim.status !== "claimed") throw new Error(`expected claimed, got ${claim.status}`);
  return claim;
}

function documentOf(database: string, key: string) {
  return client()
    .db(database)
    .collection("assured_dedup")
    .findOne({ _id: key as never });
}

// "auto" detects FerretDB here (transition locks); "mongodb" forces the compare-and-set path.
describe.each(["auto", "mongodb"] as const)(
  "MongoDedupStore renew and fencing (%s code path)",
  (server) => {
    it("renews, renews again and completes with the claim's token: each renewal is a transition of its own", async () => {
      const clock = createTestClock();
      const database = isolated();
      const store = open(database, { clock, server });
      const { token, fencingToken } = claimed(await store.claim("k", lease));
      for (let n = 0; n < 3; n++) {
        clock.advance(900);
        expect(await store.renew("k", token, 1_000), `renewal ${n}`).toBe(true);
      }
      expect(await documentOf(database, "k")).toMatchObject({
        le: clock() + 1_000,
        fc: fencingToken,
      });
      clock.advance(900);
      expect((await store.claim("k", lease)).status).toBe("pending");
      expect(await store.complete("k", token, response, { ttlMs: 60_000 })).toBe(true);
      expect(await store.renew("k", token, 1_000)).toBe(false);
    });

    it("releases a renewed lease with the claim's token; the document stays with its fencing token", async () => {
      const clock = createTestClock();
      const database = isolated();
      const store = open(database, { clock, server });
      const { token, fencingToken } = claimed(await store.claim("k", lease));
      expect(await store.renew("k", token, 5_000)).toBe(true);
      expect(await store.release("k", token)).toBe(true);
      expect(await documentOf(database, "k")).toMatchObject({
        st: "lease",
        le: 0,
        u: 0,
        fc: fencingToken,
      });
      expect(claimed(await store.claim("k", lease)).fencingToken).toBeGreaterThan(fencingToken);
    });

    it("takes a lease over at once after a late renewal was refused (the refusal holds nothing)", async () => {
      const clock = createTestClock();
      const database = isolated();
      const store = open(database, { clock, server });
      const { token, fencingToken } = claimed(await store.claim("k", lease));
      clock.advance(1_000);
      expect(await store.renew("k", token, 60_000)).toBe(false);
      expect(claimed(await store.claim("k", lease)).fencingToken).toBeGreaterThan(fencingToken);
    });
  },
);

describe("MongoDedupStore renews by the server's clock (DESIGN.md §8)", () => {
  it("G9: a node whose wall clock is an hour behind keeps the lease alive", async () => {
    const database = isolated();
    const holder = open(database);
    const { token } = claimed(await holder.claim("k", { ...lease, leaseMs: 60_000 }));
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() - HOUR);
    const behind = open(database);
    expect(await behind.renew("k", token, 60_000)).toBe(true);
    vi.useRealTimers();
    expect((await open(database).claim("k", lease)).status).toBe("pending");
  });
});
