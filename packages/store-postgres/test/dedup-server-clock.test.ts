import { afterEach, describe, expect, it, vi } from "vitest";
import { useStores } from "./fixture.js";

const stores = useStores();
const HOUR = 3_600_000;
const payload = new Uint8Array([3]);

afterEach(() => {
  vi.useRealTimers();
});

/** From here on this process's wall clock (`Date` only, as libfaketime does) is `ms` off. */
function stepWallClock(ms: number): void {
  vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
  vi.setSystemTime(Date.now() + ms);
}

describe("without a clock, the stores judge time by the database server's clock", () => {
  it("a node whose wall clock is an hour behind does not let another node take its lease over", async () => {
    const schema = stores.schema("dedupclock");
    stepWallClock(-HOUR);
    const nodeA = stores.dedup(schema);
    const claimed = await nodeA.claim("k", { leaseMs: 60_000, fingerprint: "f" });
    expect(claimed.status).toBe("claimed");
    vi.useRealTimers();
    const nodeB = stores.dedup(schema);
    const pending = await nodeB.claim("k", { leaseMs: 60_000, fingerprint: "f" });
    expect(pending.status).toBe("pending");
    // The lease ends a minute after the server's now, not an hour earlier.
    if (pending.status === "pending") {
      expect(Math.abs(pending.leaseExpiresAt - (Date.now() + 60_000))).toBeLessThan(10_000);
    }
  });

  it("a node whose wall clock jumped an hour ahead does not take over a lease another node holds", async () => {
    const schema = stores.schema("dedupclock");
    const nodeA = stores.dedup(schema);
    expect((await nodeA.claim("k", { leaseMs: 60_000, fingerprint: "f" })).status).toBe("claimed");
    stepWallClock(HOUR);
    const nodeB = stores.dedup(schema);
    expect((await nodeB.claim("k", { leaseMs: 60_000, fingerprint: "f" })).status).toBe("pending");
  });

  it("stamps append times by the server's clock, so age retention ignores a node's wall clock", async () => {
    const schema = stores.schema("eventclock");
    stepWallClock(-HOUR);
    const behind = stores.events(schema, { retention: { maxAgeMs: 60_000 } });
    await behind.append("s", [{ id: "a", name: "e", payload }]);
    vi.useRealTimers();
    const other = stores.events(schema, { retention: { maxAgeMs: 60_000 } });
    const page = await other.read("s", { after: 0, limit: 10 });
    expect(page.records.map((r) => r.id)).toEqual(["a"]);
    expect(Math.abs(page.records[0]!.time - Date.now())).toBeLessThan(10_000);
    expect((await other.append("s", [{ id: "a", name: "e", payload }]))[0]!.duplicate).toBe(true);
  });
});
