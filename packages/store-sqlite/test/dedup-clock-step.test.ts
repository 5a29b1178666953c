import { beforeEach, describe, expect, it } from "vitest";
import { SqliteDedupStore } from "../src/index.js";
import { useTempStores } from "./support/temp-database.js";

const HOUR = 3_600_000;
const lease = { leaseMs: 5_000, fingerprint: "fp" };

describe("SqliteDedupStore lease ends stamped by a clock that has since stepped back", () => {
  let now: number;
  const clock = () => now;
  const temp = useTempStores((path) => new SqliteDedupStore({ path, clock, sweepIntervalMs: 0 }));

  beforeEach(() => {
    now = 1_700_000_000_000;
  });

  it("G9: a crashed holder's claim, made while the wall clock was an hour ahead, is taken over one lease later, not an hour later", async () => {
    const store = temp.open();
    now += HOUR; // the wall clock jumped an hour ahead; the holder claims, then crashes
    expect((await store.claim("k", lease)).status).toBe("claimed");
    now -= HOUR; // the clock comes back
    expect(await store.claim("k", lease)).toEqual({
      status: "pending",
      leaseExpiresAt: now + lease.leaseMs,
    });
    now += lease.leaseMs - 1;
    expect((await store.claim("k", lease)).status).toBe("pending");
    now += 1;
    expect((await store.claim("k", lease)).status).toBe("claimed");
  });

  it("leaves a lease that ends within leaseMs alone", async () => {
    const store = temp.open();
    expect((await store.claim("k", lease)).status).toBe("claimed");
    now += 1_000;
    expect(await store.claim("k", lease)).toEqual({
      status: "pending",
      leaseExpiresAt: now - 1_000 + lease.leaseMs,
    });
  });
});
