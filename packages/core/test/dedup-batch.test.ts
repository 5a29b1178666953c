import { describe, expect, it } from "vitest";
import { AssuredError, MemoryDedupStore } from "../src/index.js";
import { Deduplicator } from "../src/protocol-entry.js";
import {
  type BatchItemResult,
  type ClaimResult,
  claimMany,
  completeMany,
  type DedupStore,
  MAX_DEDUP_BATCH,
  type StoredResponse,
} from "../src/store-entry.js";

/**
 * Waits until a lone dedup request's group was written: the adaptive group commit flushes it
 * at the end of the first turn of the event loop in which nothing was added (its second turn).
 */
async function groupWritten(): Promise<void> {
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
}

const lease = { leaseMs: 1_000, fingerprint: "fp" };
const response: StoredResponse = { ok: true, payload: new Uint8Array([7]) };

function manualClock(start = 1_000_000) {
  let now = start;
  return { clock: () => now, advance: (ms: number) => (now += ms) };
}

/** The single-call methods of a store only (a third-party store without batches). */
function singlesOnly(store: DedupStore, calls: string[] = []): DedupStore {
  return {
    capabilities: store.capabilities,
    claim: (key, options) => {
      calls.push(`claim ${key}`);
      return store.claim(key, options);
    },
    complete: (key, token, r, options) => {
      calls.push(`complete ${key}`);
      return store.complete(key, token, r, options);
    },
    release: (key, token) => {
      calls.push(`release ${key}`);
      return store.release(key, token);
    },
    renew: (key, token, leaseMs) => {
      calls.push(`renew ${key}`);
      return store.renew(key, token, leaseMs);
    },
    close: () => store.close(),
  };
}

/** A store with batches that records each batch's size and every single call. */
function recording(store: MemoryDedupStore) {
  const calls: string[] = [];
  const observed: DedupStore = {
    ...singlesOnly(store, calls),
    claimMany: (requests) => {
      calls.push(`claimMany ${requests.map((r) => r.key).join(",")}`);
      return store.claimMany(requests);
    },
    completeMany: (requests) => {
      calls.push(`completeMany ${requests.map((r) => r.key).join(",")}`);
      return store.completeMany(requests);
    },
  };
  return { store: observed, calls };
}

const statusOf = (r: BatchItemResult<ClaimResult>) =>
  r.status === "fulfilled" ? r.value.status : (r.reason as AssuredError).code;

describe("claimMany and completeMany helpers (batches with a fallback)", () => {
  it("falls back to single calls in order for a store without batches, with the batch's results", async () => {
    const calls: string[] = [];
    const store = singlesOnly(new MemoryDedupStore(), calls);
    const owner = { id: "o", maxEntries: 1 };
    const results = await claimMany(store, [
      { key: "a", options: { ...lease, owner } },
      { key: "a", options: lease },
      { key: "b", options: { ...lease, owner } },
      { key: "", options: lease },
    ]);
    expect(results.map(statusOf)).toEqual([
      "claimed",
      "pending",
      "QUOTA_EXCEEDED",
      "INVALID_ARGUMENT",
    ]);
    expect(calls).toEqual(["claim a", "claim a", "claim b", "claim "]);
    const token = (results[0] as { value: { token: string } }).value.token;
    const stored = await completeMany(store, [
      { key: "a", token, response, options: { ttlMs: 5_000 } },
      { key: "a", token, response, options: { ttlMs: 5_000 } },
    ]);
    expect(stored).toEqual([
      { status: "fulfilled", value: true },
      { status: "fulfilled", value: false },
    ]);
  });

  it("stops trying once the backend failed: the items not answered yet get that error, earlier results stay", async () => {
    const memory = new MemoryDedupStore();
    const calls: string[] = [];
    const store = singlesOnly(memory, calls);
    let n = 0;
    store.claim = async (key, options) => {
      calls.push(`claim ${key}`);
      if (++n === 2) throw new AssuredError("STORE_UNAVAILABLE", "down");
      return memory.claim(key, options);
    };
    const results = await claimMany(
      store,
      ["a", "b", "c", "d"].map((key) => ({ key, options: lease })),
    );
    expect(results.map(statusOf)).toEqual([
      "claimed",
      "STORE_UNAVAILABLE",
      "STORE_UNAVAILABLE",
      "STORE_UNAVAILABLE",
    ]);
    expect(calls).toEqual(["claim a", "claim b"]);
  });

  it("uses the store's batch in chunks of MAX_DEDUP_BATCH, and a failed batch rejects its items only", async () => {
    const memory = new MemoryDedupStore();
    const sizes: number[] = [];
    let failing = false;
    const store: DedupStore = {
      ...singlesOnly(memory),
      claimMany: async (requests) => {
        sizes.push(requests.length);
        if (failing) throw new Error("connection reset");
        return memory.claimMany(requests);
      },
    };
    const requests = Array.from({ length: MAX_DEDUP_BATCH + 3 }, (_, i) => ({
      key: `k${i}`,
      options: lease,
    }));
    const results = await claimMany(store, requests);
    expect(sizes).toEqual([MAX_DEDUP_BATCH, 3]);
    expect(results.every((r) => statusOf(r) === "claimed")).toBe(true);
    failing = true;
    const failed = await claimMany(store, [{ key: "x", options: lease }]);
    expect(failed.map(statusOf)).toEqual(["STORE_UNAVAILABLE"]);
  });
});

describe("MemoryDedupStore batches", () => {
  it("answers each item as single calls in order would: repeats see the earlier item, quota counted in order", async () => {
    const { clock, advance } = manualClock();
    const batch = new MemoryDedupStore({ clock });
    const owner = { id: "o", maxEntries: 2 };
    const first = await batch.claimMany([
      { key: "a", options: { ...lease, owner } },
      { key: "a", options: { ...lease, owner } },
      { key: "a", options: { ...lease, fingerprint: "other", owner } },
      { key: "b", options: { ...lease, owner } },
      { key: "c", options: { ...lease, owner } },
    ]);
    expect(first.map(statusOf)).toEqual([
      "claimed",
      "pending",
      "conflict",
      "claimed",
      "QUOTA_EXCEEDED",
    ]);
    advance(1_000);
    const again = await batch.claimMany([
      { key: "c", options: { ...lease, owner } },
      { key: "a", options: { ...lease, owner } },
    ]);
    expect(again.map(statusOf)).toEqual(["claimed", "claimed"]);
    const fences = [first[0], again[1]].map(
      (r) => (r as { value: { fencingToken: number } }).value.fencingToken,
    );
    expect(fences[1]).toBeGreaterThan(fences[0]!);
    await batch.close();
    await expect(batch.claimMany([])).rejects.toMatchObject({ code: "STORE_CLOSED" });
  });
});

describe("Deduplicator.claimAhead", () => {
  it("is off for a store without batches: runs claim and complete one at a time as before", async () => {
    const calls: string[] = [];
    const dedup = new Deduplicator(singlesOnly(new MemoryDedupStore(), calls), {
      leaseMs: 1_000,
      ttlMs: 60_000,
    });
    expect(dedup.batches).toBe(false);
    expect(dedup.claimAhead("a", "fp")).toBeUndefined();
    await dedup.run("a", "fp", async () => response);
    expect(calls).toEqual(["claim a", "complete a"]);
  });

  it("claims the keys asked in one turn in one claimMany and stores the responses of runs finishing together in one completeMany", async () => {
    const { store, calls } = recording(new MemoryDedupStore());
    const dedup = new Deduplicator(store, { leaseMs: 1_000, ttlMs: 60_000 });
    expect(dedup.batches).toBe(true);
    const ahead = ["a", "b", "c"].map((key) => dedup.claimAhead(key, "fp")!);
    const handled: string[] = [];
    const runs = ahead.map((claim) =>
      dedup.run(claim.key, "fp", async () => response, {
        ahead: claim,
        onHandled: () => handled.push(claim.key),
      }),
    );
    const outcomes = await Promise.all(runs);
    expect(outcomes.map((o) => [o.duplicate, o.stored])).toEqual([
      [false, true],
      [false, true],
      [false, true],
    ]);
    expect(handled).toEqual(["a", "b", "c"]);
    expect(calls).toEqual(["claimMany a,b,c", "completeMany a,b,c"]);
  });

  it("a run whose claim made ahead was answered before it started uses that answer at once: claimed runs, done answers from the store", async () => {
    const memory = new MemoryDedupStore();
    const first = await memory.claim("done-key", lease);
    if (first.status !== "claimed") throw new Error("setup");
    await memory.complete("done-key", first.token, response, { ttlMs: 60_000 });
    const { store, calls } = recording(memory);
    const dedup = new Deduplicator(store, { leaseMs: 1_000, ttlMs: 60_000 });
    const fresh = dedup.claimAhead("fresh", "fp")!;
    const done = dedup.claimAhead("done-key", "fp")!;
    await groupWritten();
    let ran = 0;
    const handler = async () => {
      ran++;
      return response;
    };
    expect(await dedup.run("fresh", "fp", handler, { ahead: fresh })).toMatchObject({
      duplicate: false,
      stored: true,
    });
    expect(await dedup.run("done-key", "fp", handler, { ahead: done })).toMatchObject({
      duplicate: true,
      response: { ok: true },
    });
    expect(ran).toBe(1);
    expect(calls.filter((c) => c.startsWith("claim"))).toEqual(["claimMany fresh,done-key"]);
    // Taken once: a second take of the same claim answers nothing.
    expect(fresh.takeNow()).toBeUndefined();
  });

  it("renews a key claimed ahead while it waits for its run, so a later claim elsewhere gets pending", async () => {
    const memory = new MemoryDedupStore();
    const { store, calls } = recording(memory);
    const dedup = new Deduplicator(store, { leaseMs: 60, ttlMs: 60_000 });
    const claim = dedup.claimAhead("a", "fp")!;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(calls.filter((c) => c === "renew a").length).toBeGreaterThanOrEqual(2);
    expect((await memory.claim("a", { leaseMs: 60, fingerprint: "fp" })).status).toBe("pending");
    const outcome = await dedup.run("a", "fp", async () => response, { ahead: claim });
    expect(outcome).toMatchObject({ duplicate: false, stored: true });
    expect(calls.filter((c) => c.startsWith("claim"))).toEqual(["claimMany a"]);
  });

  it("discard releases a key claimed ahead (also one whose claim is still on its way), so it can be claimed at once", async () => {
    const memory = new MemoryDedupStore();
    const dedup = new Deduplicator(recording(memory).store, { leaseMs: 30_000, ttlMs: 60_000 });
    const settled = dedup.claimAhead("a", "fp")!;
    await groupWritten();
    settled.discard();
    const early = dedup.claimAhead("b", "fp")!;
    early.discard();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await memory.claim("a", lease)).status).toBe("claimed");
    expect((await memory.claim("b", lease)).status).toBe("claimed");
  });

  it("claims a key ahead once in this process: a later copy claims nothing while an earlier one waits for its run or runs, so the earlier one never waits for it", async () => {
    const memory = new MemoryDedupStore();
    const { store, calls } = recording(memory);
    const dedup = new Deduplicator(store, { leaseMs: 30_000, ttlMs: 60_000 });
    const claims = () => calls.filter((c) => c.startsWith("claim"));
    const first = dedup.claimAhead("a", "fp")!;
    const second = dedup.claimAhead("a", "fp")!;
    await groupWritten();
    expect(claims()).toEqual(["claimMany a"]);
    // The first copy is dropped (refused at its turn): its key is released; a copy arriving
    // now still claims nothing, the second copy (earlier in line) gets the key at its run.
    first.discard();
    const third = dedup.claimAhead("a", "fp")!;
    await groupWritten();
    expect(claims()).toEqual(["claimMany a"]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const running = dedup.run("a", "fp", () => gate.then(() => response), { ahead: second });
    await groupWritten();
    expect(claims()).toEqual(["claimMany a", "claim a"]);
    // While it runs, a new copy claims nothing either.
    const fourth = dedup.claimAhead("a", "fp")!;
    await groupWritten();
    expect(claims()).toEqual(["claimMany a", "claim a"]);
    release();
    expect(await running).toMatchObject({ duplicate: false, stored: true });
    for (const copy of [third, fourth]) {
      const outcome = await dedup.run("a", "fp", async () => response, { ahead: copy });
      expect(outcome).toMatchObject({ duplicate: true, response });
    }
    // All copies gone: the key is claimed ahead again (answered from the store).
    dedup.claimAhead("a", "fp")!.discard();
    await groupWritten();
    expect(claims().at(-1)).toBe("claimMany a");
  });

  it("a claim made ahead that was pending or refused is claimed again at the run (quota freed meanwhile)", async () => {
    const memory = new MemoryDedupStore();
    const { store, calls } = recording(memory);
    const dedup = new Deduplicator(store, { leaseMs: 30_000, ttlMs: 60_000 });
    const owner = { id: "o", maxEntries: 1 };
    const held = await memory.claim("first", { ...lease, owner });
    const ahead = dedup.claimAhead("second", "fp", owner)!;
    await new Promise((resolve) => setTimeout(resolve, 10));
    if (held.status === "claimed") await memory.release("first", held.token);
    const outcome = await dedup.run("second", "fp", async () => response, { owner, ahead });
    expect(outcome).toMatchObject({ duplicate: false, stored: true });
    expect(calls.filter((c) => c.startsWith("claim"))).toEqual([
      "claimMany second",
      "claim second",
    ]);
  });
});
