import { encode } from "@assured/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RedisEventStore } from "../src/index.js";
import { redisUrl, useIsolatedStores } from "./redis-fixture.js";

const stores = useIsolatedStores(
  (keyPrefix) =>
    new RedisEventStore({ redis: redisUrl(), keyPrefix, retention: { maxAgeMs: 600_000 } }),
);
const HOUR = 3_600_000;

afterEach(() => vi.useRealTimers());

describe("RedisEventStore stamps and ages events by the Redis server's clock", () => {
  it("G2/G6: an event appended by a node whose wall clock is an hour behind is not trimmed at once by 10-minute age retention", async () => {
    // Only `Date` is replaced (as libfaketime does to a node in the chaos run's clock-jump fault).
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() - HOUR);
    const behind = stores.open();
    const [appended] = await behind.append("s", [{ name: "e", payload: encode(1) }]);
    vi.useRealTimers();
    const reader = stores.open();
    const page = await reader.read("s", { after: 0, limit: 10 });
    expect(page.records.map((r) => r.offset)).toEqual([appended?.offset]);
    expect(Math.abs(page.records[0]!.time - Date.now())).toBeLessThan(5_000);
  });
});
