import { describe, expect, it } from "vitest";
import { MemoryDedupStore } from "../src/index.js";
import { type ClaimResult, nextFencingToken } from "../src/store-entry.js";

const lease = { leaseMs: 10, fingerprint: "f" };

function fenceOf(result: ClaimResult): number {
  if (result.status !== "claimed") throw new Error(`expected claimed, got ${result.status}`);
  return result.fencingToken;
}

describe("fencing tokens never go backwards, also after the entry was dropped", () => {
  it("MemoryDedupStore: a key swept after a stalled holder's lease gets a larger token than that holder", async () => {
    let now = 0;
    const store = new MemoryDedupStore({ clock: () => now });
    const tokens = [fenceOf(await store.claim("k", lease))];
    now += 11;
    tokens.push(fenceOf(await store.claim("k", lease)));
    now += 11;
    const stalled = fenceOf(await store.claim("k", lease)); // its holder freezes past the lease
    expect(stalled).toBeGreaterThan(tokens[1]!);
    now += 1_000;
    // The first claim of another key sweeps the oldest keys: "k"'s expired entry is dropped.
    fenceOf(await store.claim("other", lease));
    const next = fenceOf(await store.claim("k", lease));
    expect(next).toBeGreaterThan(stalled);
    expect(next).toBe(now);
  });

  it("MemoryDedupStore: keeps a released entry until the clock passes its token, so a claim in the same millisecond gets a larger one", async () => {
    const now = 5_000;
    const store = new MemoryDedupStore({ clock: () => now });
    const first = await store.claim("k", lease);
    expect(fenceOf(first)).toBe(5_000);
    if (first.status !== "claimed") return;
    expect(await store.release("k", first.token)).toBe(true);
    fenceOf(await store.claim("other", lease)); // sweeps the oldest keys: "k" is expired
    expect(fenceOf(await store.claim("k", lease))).toBe(5_001);
  });

  it("MemoryDedupStore: an expired entry kept for its token still frees its owner's place", async () => {
    let now = 5_000;
    const store = new MemoryDedupStore({ clock: () => now });
    const owner = { id: "o", maxEntries: 1 };
    const first = await store.claim("k", { ...lease, owner });
    if (first.status !== "claimed") throw new Error("expected claimed");
    expect(await store.release("k", first.token)).toBe(true);
    // Claimed again in the same millisecond: token 5,001, lease until 5,001.
    expect(fenceOf(await store.claim("k", { leaseMs: 1, fingerprint: "f", owner }))).toBe(5_001);
    now += 1; // the lease ended, but the clock (5,001) has not passed the token
    expect(fenceOf(await store.claim("k2", { ...lease, owner }))).toBe(5_001);
    expect(fenceOf(await store.claim("k", lease))).toBe(5_002);
  });

  it("nextFencingToken: previous + 1 or the clock, whichever is larger; at least 1", () => {
    expect(nextFencingToken(undefined, 1_700_000_000_123.9)).toBe(1_700_000_000_123);
    expect(nextFencingToken(undefined, 0)).toBe(1);
    expect(nextFencingToken(undefined, -5_000)).toBe(1);
    expect(nextFencingToken(41, 7)).toBe(42);
    expect(nextFencingToken(41, 100.5)).toBe(100);
    expect(nextFencingToken(0, 0)).toBe(1);
  });
});
