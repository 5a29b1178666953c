import type { ClaimResult } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { useStores } from "./fixture.js";

const stores = useStores();
const lease = { leaseMs: 1_000, fingerprint: "f" };

function claimed(result: ClaimResult) {
  if (result.status !== "claimed") throw new Error(`expected claimed, got ${result.status}`);
  return result;
}

describe("PostgresDedupStore fencing tokens never go backwards", () => {
  it("gives a key whose row the sweep deleted a token larger than a stalled holder's", async () => {
    // A clock at 0 makes the tokens of a store that forgets them (1, 2, 3, then 1) visible.
    let now = 0;
    const dedup = stores.dedup(stores.schema("fence_drop"), {
      clock: () => now,
      sweepIntervalMs: 0,
    });
    claimed(await dedup.claim("k", lease));
    now += 1_001;
    claimed(await dedup.claim("k", lease));
    now += 1_001;
    const stalled = claimed(await dedup.claim("k", lease)); // its holder freezes past the lease
    now += 60_000;
    expect(await dedup.sweepExpired()).toBe(1);
    const next = claimed(await dedup.claim("k", lease));
    expect(next.fencingToken).toBeGreaterThan(stalled.fencingToken);
    expect(next.fencingToken).toBe(now);
  });

  it("keeps a released row until the clock passes its token: a claim in the same millisecond gets a larger one", async () => {
    let now = 1_700_000_000_000;
    const dedup = stores.dedup(stores.schema("fence_release"), {
      clock: () => now,
      sweepIntervalMs: 0,
    });
    const first = claimed(await dedup.claim("k", lease));
    expect(first.fencingToken).toBe(now);
    expect(await dedup.release("k", first.token)).toBe(true);
    expect(await dedup.sweepExpired(), "kept: the clock has not passed its token").toBe(0);
    const second = claimed(await dedup.claim("k", lease));
    expect(second.fencingToken).toBe(now + 1);
    expect(await dedup.release("k", second.token)).toBe(true);
    now += 2;
    expect(await dedup.sweepExpired()).toBe(1);
    expect(claimed(await dedup.claim("k", lease)).fencingToken).toBe(now);
  });
});
