import { describe, expect, it } from "vitest";
import { AssuredError, decode, encode, MemoryDedupStore } from "../src/index.js";
import { Deduplicator, type DedupRun, LeaseKeeper } from "../src/protocol-entry.js";
import type { DedupStore, StoredResponse } from "../src/store-entry.js";
import { VirtualTime } from "./virtual-time.js";

const result = (value: unknown): StoredResponse => ({ ok: true, payload: encode(value) });

/** A real store whose `renew` answers false once told to (the lease was taken elsewhere). */
function refusingRenewals(store: DedupStore) {
  let refuse = false;
  const renews: number[] = [];
  const wrapped: DedupStore = {
    capabilities: store.capabilities,
    claim: (...args) => store.claim(...args),
    complete: (...args) => store.complete(...args),
    release: (...args) => store.release(...args),
    renew: async (...args) => {
      renews.push(args[2]);
      return refuse ? false : store.renew(...args);
    },
    close: () => store.close(),
  };
  return { store: wrapped, renews, refuse: () => (refuse = true) };
}

describe("LeaseKeeper.renewUntil", () => {
  it("renews until the given time, then stops on its own: the lease ends a lease after the last renewal", async () => {
    const time = new VirtualTime();
    const memory = new MemoryDedupStore({ clock: time.clock });
    const { store, renews } = refusingRenewals(memory);
    const claim = await memory.claim("k", { leaseMs: 900, fingerprint: "f" });
    if (claim.status !== "claimed") throw new Error("claim");
    const options = { leaseMs: 900, renewEveryMs: 300, claimedAt: 0, timers: time.timers };
    const keeper = new LeaseKeeper(store, "k", claim.token, options);
    keeper.renewUntil(1_000);
    keeper.renewUntil(5_000); // a later bound does not extend an earlier one
    time.timers.after(10_000, () => undefined);
    await time.run(20_000);
    expect(renews).toEqual([900, 900, 900]); // at 300, 600 and 900 ms; the 1,200 ms turn stops
    expect(keeper.lost).toBeUndefined();
    expect((await memory.claim("k", { leaseMs: 900, fingerprint: "f" })).status).toBe("claimed");
  });
});

describe("lease renewal of a running handler (DESIGN.md §8)", () => {
  it("renews every leaseMs / 3 while the handler runs, and stops once it settles", async () => {
    const time = new VirtualTime();
    const { store, renews } = refusingRenewals(new MemoryDedupStore({ clock: time.clock }));
    const dedup = new Deduplicator(store, { leaseMs: 900, ttlMs: 60_000, timers: time.timers });
    const outcome = dedup.run("k", "f", async () => {
      await time.sleep(1_000);
      return result("done");
    });
    await time.run(100_000);
    expect(await outcome).toMatchObject({ duplicate: false, stored: true });
    expect(renews).toEqual([900, 900, 900]); // at 300, 600 and 900 ms; none after 1,000
  });

  it("a renewal answered false aborts the handler's signal with LEASE_LOST at once and stores nothing", async () => {
    const time = new VirtualTime();
    const inner = new MemoryDedupStore({ clock: time.clock });
    const { store, refuse } = refusingRenewals(inner);
    const dedup = new Deduplicator(store, { leaseMs: 900, ttlMs: 60_000, timers: time.timers });
    let signal: AbortSignal | undefined;
    const outcome = dedup.run("k", "f", async (run: DedupRun) => {
      signal = run.signal;
      await time.sleep(5_000); // ignores its signal
      return result("late");
    });
    const failure = outcome.catch((error: unknown) => error);
    time.timers.after(400, refuse);
    await time.run(650);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toMatchObject({ code: "LEASE_LOST" });
    expect(await failure).toMatchObject({ code: "LEASE_LOST" });
    await time.run(100_000);
    expect((await inner.claim("k", { leaseMs: 10, fingerprint: "f" })).status).toBe("claimed");
  });

  it("a given-up run (RunOnceOptions.signal) aborts the handler with the reason and releases the claim", async () => {
    const time = new VirtualTime();
    const store = new MemoryDedupStore({ clock: time.clock });
    const dedup = new Deduplicator(store, { leaseMs: 900, ttlMs: 60_000, timers: time.timers });
    const giveUp = new AbortController();
    let seen: unknown;
    let firstFence = 0;
    const outcome = dedup.run(
      "k",
      "f",
      async ({ signal, fencingToken }) => {
        firstFence = fencingToken;
        await new Promise((resolve) => signal.addEventListener("abort", resolve));
        seen = signal.reason;
        return result("after abort");
      },
      { signal: giveUp.signal },
    );
    const failure = outcome.catch((error: unknown) => error);
    const timeout = new AssuredError("TIMEOUT", "handlerTimeoutMs passed");
    time.timers.after(2_000, () => giveUp.abort(timeout));
    await time.run(100_000);
    expect(await failure).toBe(timeout);
    expect(seen).toBe(timeout);
    const retry = await dedup.run("k", "f", async ({ fencingToken }) => result(fencingToken));
    expect(decode(retry.response.payload)).toBeGreaterThan(firstFence);
    expect(firstFence).toBeGreaterThan(0);
  });

  it("abortRunning aborts signals but keeps the lease: a handler that still returns is stored", async () => {
    const time = new VirtualTime();
    const store = new MemoryDedupStore({ clock: time.clock });
    const dedup = new Deduplicator(store, { leaseMs: 900, ttlMs: 60_000, timers: time.timers });
    let reason: unknown;
    const outcome = dedup.run("k", "f", async ({ signal, fencingToken }) => {
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
      reason = signal.reason;
      await time.sleep(3_000); // finishes its work past several leases
      return result(fencingToken);
    });
    time.timers.after(100, () => dedup.abortRunning(new AssuredError("CLOSED", "closing")));
    await time.run(100_000);
    expect(reason).toMatchObject({ code: "CLOSED" });
    expect(await outcome).toMatchObject({ duplicate: false, stored: true });
    const again = await dedup.run("k", "f", async () => result("again"));
    expect(again.duplicate).toBe(true);
    expect(decode(again.response.payload)).toBe(1);
  });
});

describe("LeaseKeeper.handOver", () => {
  it("tells the loss to whoever took the lease over, not to the first holder", async () => {
    const { LeaseKeeper } = await import("../src/protocol-entry.js");
    const time = new VirtualTime();
    const store = new MemoryDedupStore({ clock: time.clock });
    const claim = await store.claim("k", { leaseMs: 30, fingerprint: "f" });
    if (claim.status !== "claimed") throw new Error("not claimed");
    const heard: string[] = [];
    const keeper = new LeaseKeeper(store, "k", claim.token, {
      leaseMs: 30,
      renewEveryMs: 10,
      claimedAt: 0,
      timers: time.timers,
      onLost: () => heard.push("first"),
    });
    keeper.handOver((reason) => heard.push(`run: ${reason.code}`));
    keeper.lose(new AssuredError("TIMEOUT", "given up"));
    keeper.lose(new AssuredError("TIMEOUT", "again"));
    expect(heard).toEqual(["run: TIMEOUT"]);
    expect(keeper.holds()).toBe(false);
    expect(keeper.signal.aborted).toBe(true);
  });
});
