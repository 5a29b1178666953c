import { createTestClock } from "@assured/conformance";
import type { ClaimResult } from "@assured/core/store";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MongoDedupStore, type MongoServerKind } from "../src/index.js";
import { isolatedDatabase, useClient } from "./mongo-fixture.js";

const client = useClient();
const cleanups: (() => Promise<void>)[] = [];
const lease = { leaseMs: 1_000, fingerprint: "fp" };
const YEAR = 365 * 86_400_000;

afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function open(options: { clock: () => number; server: MongoServerKind; maxEntries?: number }) {
  const database = isolatedDatabase("fencing");
  const store = new MongoDedupStore({ connection: client(), database, ...options });
  cleanups.push(async () => {
    await store.close();
    await client().db(database).dropDatabase();
  });
  return store;
}

function claimed(claim: ClaimResult) {
  if (claim.status !== "claimed") throw new Error(`expected claimed, got ${claim.status}`);
  return claim;
}

// "auto" detects FerretDB here (transition locks); "mongodb" forces the compare-and-set path.
describe.each(["auto", "mongodb"] as const)(
  "MongoDedupStore fencing tokens never go backwards (%s code path)",
  (server) => {
    it("gives a key whose document the sweep deleted a token larger than a stalled holder's", async () => {
      const clock = createTestClock();
      // The wall clock (the TTL dates the sweep reads) moves with the store clock.
      vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
      vi.setSystemTime(clock());
      const step = (ms: number) => {
        clock.advance(ms);
        vi.setSystemTime(Date.now() + ms);
      };
      const store = open({ clock, server });
      claimed(await store.claim("k", lease));
      step(1_001);
      claimed(await store.claim("k", lease));
      step(1_001);
      const stalled = claimed(await store.claim("k", lease)); // its holder freezes past the lease
      step(60_000);
      expect(await store.sweepExpired()).toBe(1);
      const next = claimed(await store.claim("k", lease));
      expect(next.fencingToken).toBeGreaterThan(stalled.fencingToken);
    });

    it("keeps a released document at the bound until the clock passes its token: a claim in the same millisecond gets a larger one", async () => {
      // A store clock far ahead of the wall clock: tokens come from it, and it stands still.
      const clock = createTestClock(Date.now() + YEAR);
      const store = open({ clock, server, maxEntries: 1 });
      const first = claimed(await store.claim("k", lease));
      expect(first.fencingToken).toBe(clock());
      expect(await store.release("k", first.token)).toBe(true);
      // At the bound: the claim deletes expired documents first, but not this one yet.
      expect(claimed(await store.claim("k", lease)).fencingToken).toBe(clock() + 1);
    });
  },
);
