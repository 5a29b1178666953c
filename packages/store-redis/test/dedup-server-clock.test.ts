import { afterEach, describe, expect, it, vi } from "vitest";
import { RedisDedupStore } from "../src/index.js";
import { redisUrl, useIsolatedStores } from "./redis-fixture.js";

const stores = useIsolatedStores(
  (keyPrefix) => new RedisDedupStore({ redis: redisUrl(), keyPrefix }),
);
const HOUR = 3_600_000;

afterEach(() => vi.useRealTimers());

describe("RedisDedupStore judges leases by the Redis server's clock (DESIGN.md §8)", () => {
  it("G9: a node whose wall clock is an hour behind does not let another node take its lease over", async () => {
    // Node A's process sees a wall clock an hour behind (only `Date` is replaced, as
    // libfaketime does to a node in the chaos run's clock-jump fault).
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() - HOUR);
    const nodeA = stores.open();
    const first = await nodeA.claim("k", { leaseMs: 60_000, fingerprint: "f" });
    expect(first.status).toBe("claimed");
    vi.useRealTimers();
    const nodeB = stores.open();
    const copy = await nodeB.claim("k", { leaseMs: 60_000, fingerprint: "f" });
    expect(copy.status).toBe("pending");
  });

  it("G9: a node whose wall clock jumped an hour ahead does not take over a lease another node holds", async () => {
    const nodeA = stores.open();
    expect((await nodeA.claim("k", { leaseMs: 60_000, fingerprint: "f" })).status).toBe("claimed");
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() + HOUR);
    const nodeB = stores.open();
    expect((await nodeB.claim("k", { leaseMs: 60_000, fingerprint: "f" })).status).toBe("pending");
  });
});
