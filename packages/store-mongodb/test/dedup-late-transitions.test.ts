import { Binary, type Collection } from "mongodb";
import { afterEach, describe, expect, it } from "vitest";
import type { DedupDocument } from "../src/collections.js";
import type { StoredState } from "../src/dedup-transitions.js";
import { lockedTransitions } from "../src/dedup-transitions.js";
import type { LockDocument } from "../src/retention-sweep.js";
import { isolatedDatabase, isTestServer, useClient } from "./mongo-fixture.js";

const client = useClient();
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `collection`, whose `n`-th read (`findOne`, or `find(...).toArray()`) answers `delayMs` late. */
function slowRead<T extends object>(collection: Collection<T>, n: number, delayMs: number) {
  let calls = 0;
  const late = async <R>(read: Promise<R>): Promise<R> => {
    const found = await read;
    if (++calls === n) await new Promise((resolve) => setTimeout(resolve, delayMs));
    return found;
  };
  return new Proxy(collection, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      if (property === "findOne") return (...args: unknown[]) => late(value.apply(target, args));
      if (property === "find") {
        return (...args: unknown[]) => {
          const cursor = value.apply(target, args);
          return { toArray: () => late(cursor.toArray()) };
        };
      }
      return value.bind(target);
    },
  });
}

/** `collection`, whose first `updateOne` is sent `delayMs` late (held up in flight). */
function lateUpdate<T extends object>(collection: Collection<T>, delayMs: number) {
  let held = false;
  return new Proxy(collection, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      if (property !== "updateOne" || held) return value.bind(target);
      held = true;
      return async (...args: unknown[]) => {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        return value.apply(target, args);
      };
    },
  });
}

describe("MongoDB store on FerretDB: transitions slowed past their lock", () => {
  const setUp = async () => {
    const database = isolatedDatabase("give-up");
    cleanups.push(async () => {
      await client().db(database).dropDatabase();
    });
    const db = client().db(database);
    const dedup = db.collection<DedupDocument>("dedup");
    const locks = db.collection<LockDocument>("locks");
    const now = Date.now();
    await dedup.insertOne({
      _id: "k",
      f: "fp",
      st: "lease",
      tok: "t1",
      le: now + 60_000,
      u: now + 60_000,
      x: new Date(now + 60_000),
      fc: 1,
    } as DedupDocument);
    const response: StoredState = {
      ok: true,
      r: new Binary(new Uint8Array([1, 2])),
      ex: now + 60_000,
      u: now + 60_000,
      x: new Date(now + 60_000),
    };
    const generations = async () =>
      (await locks.find({}).toArray()).map((l) => l._id.split(":")[0]).sort();
    return { dedup, locks, response, generations };
  };

  it.runIf(isTestServer)(
    "in completeMany, stores the response of an item locked too late the single way, once its own lock went stale (before, it was left unstored and the message ran again)",
    async () => {
      const { dedup, locks, response, generations } = await setUp();
      // completeMany reads the leases (read 1), inserts the locks, reads them again (read 2).
      const transitions = lockedTransitions(slowRead(dedup, 2, 2_600), locks, Date.now);
      expect(await transitions.completeMany([{ key: "k", holder: "t1", response }])).toEqual([
        true,
      ]);
      expect((await dedup.findOne({ _id: "k" }))?.st).toBe("done");
      expect(await generations()).toEqual(["token", "token#1"]);
    },
    30_000,
  );

  it.runIf(isTestServer)(
    "a renewal whose write lands after the stored response (its lock broken meanwhile) changes nothing",
    async () => {
      const { dedup, locks, response } = await setUp();
      const lease = { le: Date.now() + 5_000, u: Date.now() + 5_000, x: new Date() };
      // The renewal takes the lease's lock, then its write is held up for 5.5 s: the lock goes
      // stale, and the holder's complete breaks it and stores the response first.
      const renewing = lockedTransitions(lateUpdate(dedup, 5_500), locks, Date.now);
      const renewal = renewing.renew("k", "t1", lease, Date.now());
      await new Promise((resolve) => setTimeout(resolve, 200));
      const completing = lockedTransitions(dedup, locks, Date.now);
      expect(await completing.complete("k", "t1", response)).toBe(true);
      expect(await renewal).toBe(false);
      const doc = await dedup.findOne({ _id: "k" });
      // Before, the late renewal set the response's end (`u`) to the lease's: the sweep deletes
      // by `u`, so the stored response went away 5 s later and the message could run again.
      expect(doc).toMatchObject({ st: "done", u: response.u, ex: response.ex });
    },
    30_000,
  );
});
