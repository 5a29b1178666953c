import { describe, expect, it } from "vitest";
import { decode, encode, isAssuredError, MemoryDedupStore } from "../src/index.js";
import { Deduplicator, dedupKey, messageFingerprint, runOnce } from "../src/protocol-entry.js";
import type { DedupStore, StoredResponse } from "../src/store-entry.js";

const OPTIONS = { leaseMs: 1_000, ttlMs: 60_000 };

function manualClock(start = 1_000_000) {
  let now = start;
  return { clock: () => now, advance: (ms: number) => (now += ms) };
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Counts calls to a real store (observation only; the store does the work). */
function counting(store: DedupStore) {
  const calls = { claim: 0 };
  const sawPending = deferred<void>();
  const observed: DedupStore = {
    capabilities: store.capabilities,
    claim: async (key, options) => {
      calls.claim++;
      const claim = await store.claim(key, options);
      if (claim.status === "pending") sawPending.resolve();
      return claim;
    },
    complete: (key, token, response, options) => store.complete(key, token, response, options),
    release: (key, token) => store.release(key, token),
    renew: (key, token, leaseMs) => store.renew(key, token, leaseMs),
    close: () => store.close(),
  };
  return { store: observed, calls, sawPending: sawPending.promise };
}

const result = (value: unknown): StoredResponse => ({ ok: true, payload: encode(value) });

describe("messageFingerprint", () => {
  it("is the same for the same message and differs for another name or payload", async () => {
    const a = await messageFingerprint("chat:send", encode({ text: "hi" }));
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await messageFingerprint("chat:send", encode({ text: "hi" }))).toBe(a);
    expect(await messageFingerprint("chat:sent", encode({ text: "hi" }))).not.toBe(a);
    expect(await messageFingerprint("chat:send", encode({ text: "ho" }))).not.toBe(a);
  });

  it("separates name and payload unambiguously", async () => {
    const joined = await messageFingerprint("abc", new Uint8Array([]));
    const split = await messageFingerprint("ab", new TextEncoder().encode("c"));
    expect(split).not.toBe(joined);
  });
});

describe("dedupKey", () => {
  it("never maps two (principal, id) pairs to one key, whatever separators they contain", () => {
    const pairs: [string, string][] = [
      ["a:b", "c"],
      ["a", "b:c"],
      ["a:", "bc"],
      ["1:a", "b"],
      ["1", ":ab"],
      ["a", "bc"],
      ["ab", "c"],
      ["user\u0000", "x"],
      ["user", "\u0000x"],
    ];
    const keys = new Set(pairs.map(([p, id]) => dedupKey(p, id)));
    expect(keys.size).toBe(pairs.length);
  });

  it("fits the dedup store's key bound at the longest principal and id", async () => {
    const key = dedupKey("p".repeat(248), "😀".repeat(256));
    const claim = await new MemoryDedupStore().claim(key, { leaseMs: 10, fingerprint: "f" });
    expect(claim.status).toBe("claimed");
  });

  it("rejects empty, too long or non-string principals with INVALID_ARGUMENT", () => {
    for (const bad of ["", "p".repeat(249), 42, null]) {
      expect(() => dedupKey(bad as string, "id")).toThrowError(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
    }
    expect(() => dedupKey("user", "")).toThrowError(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});

describe("runOnce (G9)", () => {
  it("G9: runs the handler once; a duplicate gets the stored result without rerunning", async () => {
    const store = new MemoryDedupStore();
    let runs = 0;
    const handler = async () => result({ n: ++runs });
    const first = await runOnce(store, "k", "f", handler, OPTIONS);
    const second = await runOnce(store, "k", "f", handler, OPTIONS);
    expect(runs).toBe(1);
    expect(first).toMatchObject({ duplicate: false, stored: true });
    expect(second.duplicate).toBe(true);
    expect(decode(second.response.payload)).toEqual({ n: 1 });
  });

  it("G9: a stored application error is final and returned to duplicates", async () => {
    const store = new MemoryDedupStore();
    let runs = 0;
    const handler = async (): Promise<StoredResponse> => {
      runs++;
      return { ok: false, payload: encode({ message: "room is full" }) };
    };
    await runOnce(store, "k", "f", handler, OPTIONS);
    const again = await runOnce(store, "k", "f", handler, OPTIONS);
    expect(runs).toBe(1);
    expect(again.response.ok).toBe(false);
    expect(decode(again.response.payload)).toEqual({ message: "room is full" });
  });

  it("G9: the same key with another fingerprint is IDEMPOTENCY_CONFLICT (done or running)", async () => {
    const store = new MemoryDedupStore();
    await runOnce(store, "done", "f1", async () => result(1), OPTIONS);
    await expect(runOnce(store, "done", "f2", async () => result(2), OPTIONS)).rejects.toSatisfy(
      (e) => isAssuredError(e, "IDEMPOTENCY_CONFLICT"),
    );
    const gate = deferred<StoredResponse>();
    const running = runOnce(store, "running", "f1", () => gate.promise, OPTIONS);
    await expect(runOnce(store, "running", "f2", async () => result(2), OPTIONS)).rejects.toSatisfy(
      (e) => isAssuredError(e, "IDEMPOTENCY_CONFLICT"),
    );
    gate.resolve(result(1));
    await running;
  });

  it("G9: a concurrent duplicate waits for the running one and gets its response", async () => {
    const { store, sawPending } = counting(new MemoryDedupStore());
    const gate = deferred<StoredResponse>();
    let runs = 0;
    const first = runOnce(
      store,
      "k",
      "f",
      () => {
        runs++;
        return gate.promise;
      },
      OPTIONS,
    );
    const second = runOnce(store, "k", "f", async () => result("second"), OPTIONS);
    await sawPending;
    gate.resolve(result("first"));
    const [a, b] = await Promise.all([first, second]);
    expect(runs).toBe(1);
    expect(a.duplicate).toBe(false);
    expect(b.duplicate).toBe(true);
    expect(decode(b.response.payload)).toBe("first");
  });

  it("G9: a crashed holder's claim expires after the lease; the message then runs once", async () => {
    const time = manualClock();
    const store = new MemoryDedupStore({ clock: time.clock });
    // A process claimed the key and died without completing or releasing it.
    expect((await store.claim("k", { leaseMs: 1_000, fingerprint: "f" })).status).toBe("claimed");
    let runs = 0;
    const handler = async () => result(++runs);
    const waiting = runOnce(store, "k", "f", handler, { ...OPTIONS, maxWaitMs: 5_000 });
    const duplicate = runOnce(store, "k", "f", handler, { ...OPTIONS, maxWaitMs: 5_000 });
    time.advance(1_000);
    const outcomes = await Promise.all([waiting, duplicate]);
    expect(runs).toBe(1);
    expect(outcomes.map((o) => o.duplicate).sort()).toEqual([false, true]);
  });

  it("G9: a handler that throws releases the key, so a retry runs it again", async () => {
    const store = new MemoryDedupStore();
    let runs = 0;
    const failing = async (): Promise<StoredResponse> => {
      runs++;
      throw new Error("database down");
    };
    await expect(runOnce(store, "k", "f", failing, OPTIONS)).rejects.toThrow("database down");
    const retried = await runOnce(store, "k", "f", async () => result(++runs), OPTIONS);
    expect(retried.duplicate).toBe(false);
    expect(runs).toBe(2);
  });

  it("fails fast with TIMEOUT when told not to wait, or after maxWaitMs", async () => {
    const store = new MemoryDedupStore();
    await store.claim("k", { leaseMs: 60_000, fingerprint: "f" });
    const noop = async () => result(0);
    await expect(
      runOnce(store, "k", "f", noop, { ...OPTIONS, waitForPending: false }),
    ).rejects.toSatisfy((e) => isAssuredError(e, "TIMEOUT"));
    await expect(
      runOnce(store, "k", "f", noop, { ...OPTIONS, maxWaitMs: 30, pollMaxMs: 10 }),
    ).rejects.toSatisfy((e) => isAssuredError(e, "TIMEOUT"));
  });

  it("reports stored: false when the lease was taken over before the handler finished", async () => {
    const time = manualClock();
    const store = new MemoryDedupStore({ clock: time.clock });
    const outcome = await runOnce(
      store,
      "k",
      "f",
      async () => {
        time.advance(2_000);
        await store.claim("k", { leaseMs: 1_000, fingerprint: "f" });
        return result("late");
      },
      OPTIONS,
    );
    expect(outcome).toMatchObject({ duplicate: false, stored: false });
  });

  it("reports a raw failure of the store's claim as STORE_UNAVAILABLE and runs nothing", async () => {
    const inner = new MemoryDedupStore();
    const broken: DedupStore = {
      capabilities: inner.capabilities,
      claim: async () => {
        throw new Error("ECONNRESET");
      },
      complete: (...args) => inner.complete(...args),
      release: (...args) => inner.release(...args),
      renew: (...args) => inner.renew(...args),
      close: () => inner.close(),
    };
    let runs = 0;
    await expect(runOnce(broken, "k", "f", async () => result(++runs), OPTIONS)).rejects.toSatisfy(
      (e) => isAssuredError(e, "STORE_UNAVAILABLE"),
    );
    expect(runs).toBe(0);
  });

  it("rejects invalid lease and TTL with INVALID_ARGUMENT", async () => {
    const store = new MemoryDedupStore();
    await expect(
      runOnce(store, "k", "f", async () => result(0), { leaseMs: 0, ttlMs: 1 }),
    ).rejects.toSatisfy((e) => isAssuredError(e, "INVALID_ARGUMENT"));
  });
});

describe("Deduplicator", () => {
  it("G9: in-process duplicates share one run without polling the store", async () => {
    const { store, calls } = counting(new MemoryDedupStore());
    const dedup = new Deduplicator(store, OPTIONS);
    const gate = deferred<StoredResponse>();
    let runs = 0;
    const handler = () => {
      runs++;
      return gate.promise;
    };
    const first = dedup.run("k", "f", handler);
    const second = dedup.run("k", "f", handler);
    const third = dedup.run("k", "f", handler);
    expect(dedup.inFlight).toBe(1);
    gate.resolve(result("once"));
    const outcomes = await Promise.all([first, second, third]);
    expect(runs).toBe(1);
    expect(calls.claim).toBe(1);
    expect(outcomes.map((o) => o.duplicate)).toEqual([false, true, true]);
    expect(dedup.inFlight).toBe(0);
  });

  it("G9: an in-process duplicate with another fingerprint is IDEMPOTENCY_CONFLICT", async () => {
    const dedup = new Deduplicator(new MemoryDedupStore(), OPTIONS);
    const gate = deferred<StoredResponse>();
    const first = dedup.run("k", "f1", () => gate.promise);
    await expect(dedup.run("k", "f2", async () => result(0))).rejects.toSatisfy((e) =>
      isAssuredError(e, "IDEMPOTENCY_CONFLICT"),
    );
    gate.resolve(result(1));
    await first;
  });

  it("keeps its in-flight table bounded and stays correct beyond the bound", async () => {
    const dedup = new Deduplicator(new MemoryDedupStore(), { ...OPTIONS, maxInFlight: 1 });
    const gates = [deferred<StoredResponse>(), deferred<StoredResponse>()];
    const a = dedup.run("a", "f", () => gates[0]!.promise);
    const b = dedup.run("b", "f", () => gates[1]!.promise);
    expect(dedup.inFlight).toBe(1);
    gates[0]!.resolve(result("a"));
    gates[1]!.resolve(result("b"));
    const outcomes = await Promise.all([a, b]);
    expect(outcomes.map((o) => decode(o.response.payload))).toEqual(["a", "b"]);
  });
});

describe("Deduplicator owner quota (DESIGN.md §8)", () => {
  it("passes the owner with every claim: beyond its quota QUOTA_EXCEEDED, the handler does not run, other owners run", async () => {
    const store = new MemoryDedupStore();
    const dedup = new Deduplicator(store, OPTIONS);
    const alice = { owner: { id: "alice", maxEntries: 2 } };
    let runs = 0;
    const handler = async (): Promise<StoredResponse> => ({ ok: true, payload: encode(++runs) });
    for (const id of ["m1", "m2"]) {
      await dedup.run(dedupKey("alice", id), "fp", handler, alice);
    }
    const refused = await dedup
      .run(dedupKey("alice", "m3"), "fp", handler, alice)
      .catch((error: unknown) => error);
    expect(isAssuredError(refused, "QUOTA_EXCEEDED")).toBe(true);
    expect(runs).toBe(2);
    // A duplicate of a handled message is still answered from the store.
    const again = await dedup.run(dedupKey("alice", "m1"), "fp", handler, alice);
    expect(again).toMatchObject({ duplicate: true });
    expect(decode(again.response.payload)).toBe(1);
    await dedup.run(dedupKey("bob", "m1"), "fp", handler, { owner: { id: "bob", maxEntries: 2 } });
    expect(runs).toBe(3);
  });
});

describe("Deduplicator wait bound", () => {
  it("G9: a hung in-process run does not hold its key past the lease: a duplicate then runs the handler again, once", async () => {
    const { clock, advance } = manualClock();
    const store = new MemoryDedupStore({ clock });
    const dedup = new Deduplicator(store, { ...OPTIONS, maxWaitMs: 5_000, clock });
    const hung = deferred<StoredResponse>();
    let runs = 0;
    const started = deferred<void>();
    const first = dedup.run("k", "f", () => {
      runs++;
      started.resolve();
      return hung.promise;
    });
    const firstFailure = first.then(
      () => undefined,
      (error: unknown) => error,
    );
    await started.promise;
    advance(OPTIONS.leaseMs + 1);
    const retried = await dedup.run("k", "f", async () => {
      runs++;
      return result("second");
    });
    expect(runs).toBe(2);
    expect(retried.duplicate).toBe(false);
    expect(decode(retried.response.payload)).toBe("second");
    // The duplicate after that gets the stored answer; the hung run lost its lease (it was not
    // renewed before the lease ended): it rejects with LEASE_LOST and stores nothing.
    expect((await dedup.run("k", "f", async () => result("third"))).duplicate).toBe(true);
    expect(await firstFailure).toMatchObject({ code: "LEASE_LOST" });
    hung.resolve(result("first"));
    expect(runs).toBe(2);
  });

  it("an in-process duplicate of a hung handler fails with TIMEOUT after maxWaitMs", async () => {
    const dedup = new Deduplicator(new MemoryDedupStore(), { ...OPTIONS, maxWaitMs: 20 });
    const hung = deferred<StoredResponse>();
    const first = dedup.run("k", "f", () => hung.promise);
    await expect(dedup.run("k", "f", async () => result(0))).rejects.toSatisfy((e) =>
      isAssuredError(e, "TIMEOUT"),
    );
    hung.resolve(result(1));
    await first;
  });
});
