import { afterEach, describe, expect, it, vi } from "vitest";
import { MongoDedupStore } from "../src/index.js";
import { isolatedDatabase, useClient } from "./mongo-fixture.js";

const client = useClient();
const cleanups: (() => Promise<void>)[] = [];
const HOUR = 3_600_000;

afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function open(database: string): MongoDedupStore {
  const store = new MongoDedupStore({ connection: client(), database });
  cleanups.push(() => store.close());
  return store;
}

/** From here on this process's wall clock (`Date` only, as libfaketime does) is `ms` off. */
function stepWallClock(ms: number): void {
  vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
  vi.setSystemTime(Date.now() + ms);
}

describe("MongoDedupStore judges leases by the server's clock (DESIGN.md §8)", () => {
  it("G9: a node whose wall clock is an hour behind does not let another node take its lease over", async () => {
    const database = isolatedDatabase("dedupclock");
    cleanups.push(async () => {
      await client().db(database).dropDatabase();
    });
    stepWallClock(-HOUR);
    const nodeA = open(database);
    expect((await nodeA.claim("k", { leaseMs: 60_000, fingerprint: "f" })).status).toBe("claimed");
    vi.useRealTimers();
    const nodeB = open(database);
    expect((await nodeB.claim("k", { leaseMs: 60_000, fingerprint: "f" })).status).toBe("pending");
    // The TTL index's date is on the server's clock too: not an hour early.
    const doc = await client()
      .db(database)
      .collection("assured_dedup")
      .findOne({ _id: "k" as never });
    const x = doc?.x instanceof Date ? doc.x.getTime() : 0;
    expect(x).toBeGreaterThan(Date.now() + 50_000);
  });

  it("G9: a node whose wall clock jumped an hour ahead does not take over a lease another node holds", async () => {
    const database = isolatedDatabase("dedupclock");
    cleanups.push(async () => {
      await client().db(database).dropDatabase();
    });
    const nodeA = open(database);
    expect((await nodeA.claim("k", { leaseMs: 60_000, fingerprint: "f" })).status).toBe("claimed");
    stepWallClock(HOUR);
    const nodeB = open(database);
    expect((await nodeB.claim("k", { leaseMs: 60_000, fingerprint: "f" })).status).toBe("pending");
  });
});
