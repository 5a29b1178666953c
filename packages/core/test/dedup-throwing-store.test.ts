import { describe, expect, it } from "vitest";
import { encode, MemoryDedupStore } from "../src/index.js";
import { Deduplicator } from "../src/protocol-entry.js";
import type { DedupStore, StoredResponse } from "../src/store-entry.js";

/**
 * A store without batches whose `complete` and `release` throw instead of returning a
 * rejected promise (a hand-written store can). A run must still settle and be forgotten.
 */
function throwingStore(): DedupStore {
  const inner = new MemoryDedupStore();
  return {
    capabilities: inner.capabilities,
    claim: (key, options) => inner.claim(key, options),
    renew: (key, token, leaseMs) => inner.renew(key, token, leaseMs),
    complete: () => {
      throw new Error("complete exploded");
    },
    release: () => {
      throw new Error("release exploded");
    },
    close: () => inner.close(),
  };
}

const ok = (value: unknown): StoredResponse => ({ ok: true, payload: encode(value) });

describe("Deduplicator with a store that throws synchronously", () => {
  it("answers a run whose complete throws (not stored) and forgets it", async () => {
    const dedup = new Deduplicator(throwingStore(), { leaseMs: 1_000, ttlMs: 60_000 });
    const outcome = await dedup.run("k1", "f", async () => ok("done"));
    expect(outcome).toMatchObject({ duplicate: false, stored: false });
    expect(dedup.inFlight).toBe(0);
    // A later copy runs again (nothing was stored) instead of joining a run that never ends.
    const again = await dedup.run("k1", "f", async () => ok("again"));
    expect(again.duplicate).toBe(false);
  });

  it("passes on a retryable handler failure when release throws, and forgets the run", async () => {
    const dedup = new Deduplicator(throwingStore(), { leaseMs: 1_000, ttlMs: 60_000 });
    await expect(
      dedup.run("k2", "f", async () => {
        throw new Error("handler failed");
      }),
    ).rejects.toThrow("handler failed");
    expect(dedup.inFlight).toBe(0);
  });
});
