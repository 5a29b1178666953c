import type { Position } from "@assured/core";
import { type ClientStorage, memoryLocks, memoryStorage } from "@assured/core/protocol";
import { io } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { createAssuredClient } from "../src/index.js";
import { resolveOptions } from "../src/options.js";
import { mergeJudged, PositionStore } from "../src/position-store.js";

async function storedOffset(storage: ClientStorage, stream: string): Promise<number | undefined> {
  const text = await storage.get(`assured:pos:${stream}`);
  return text === null ? undefined : (JSON.parse(text) as { offset: number }).offset;
}

describe("position writes", () => {
  it("a save queued behind a removal (a resync) is written even though the stored position is higher", async () => {
    const inner = memoryStorage();
    let release!: () => void;
    const slow = new Promise<void>((resolve) => {
      release = resolve;
    });
    const storage: ClientStorage = {
      get: (key) => inner.get(key),
      remove: (key) => inner.remove(key),
      set: async (key, value) => {
        if (key.endsWith("pos:other")) await slow;
        await inner.set(key, value);
      },
    };
    await inner.set("assured:pos:room", JSON.stringify({ epoch: "E", offset: 100 }));
    const store = new PositionStore(storage, memoryLocks(), "assured:");
    const errors: unknown[] = [];
    const report = (e: unknown) => errors.push(e);
    store.save("other", { epoch: "E", offset: 1 }, report); // a write in progress (slow disk)
    // resubscribe(room, { from: "earliest" }): removed, then the replay saves 1, 2, 3.
    store.remove("room", report);
    store.save("room", { epoch: "E", offset: 3 }, report);
    release();
    await store.flush();
    expect(await storedOffset(inner, "room")).toBe(3);
    expect(errors).toEqual([]);
  });
});

describe("position writes to the client's own storage", () => {
  /** A storage and locks that count the calls made to them. */
  function counted() {
    const inner = memoryStorage();
    const calls = { get: 0, set: 0, lock: 0 };
    const storage: ClientStorage = {
      get: (key) => {
        calls.get++;
        return inner.get(key);
      },
      set: (key, value) => {
        calls.set++;
        return inner.set(key, value);
      },
      remove: (key) => inner.remove(key),
    };
    const shared = memoryLocks();
    const locks = {
      request: ((name, options, task) => {
        calls.lock++;
        return shared.request(name, options, task);
      }) as typeof shared.request,
    };
    return { storage, locks, calls };
  }

  it("an exclusive store writes without taking the lock or reading the stored value first", async () => {
    const { storage, locks, calls } = counted();
    const store = new PositionStore(storage, locks, "assured:", true);
    const report = (e: unknown) => {
      throw e;
    };
    store.save("room", { epoch: "E", offset: 5 }, report);
    await store.flush();
    store.save("room", { epoch: "E", offset: 4 }, report); // behind what it wrote: not written
    await store.flush();
    store.save("room", { epoch: "E", offset: 6 }, report);
    await store.flush();
    expect(calls).toEqual({ get: 0, set: 2, lock: 0 });
    expect(await storedOffset(storage, "room")).toBe(6);
  });

  it("is used only when the client was given no storage (a given one may be shared with other tabs)", () => {
    expect(resolveOptions({}).privateStorage).toBe(true);
    expect(resolveOptions({ storage: memoryStorage() }).privateStorage).toBe(false);
  });

  it("a store on shared storage takes the lock and reads before each write", async () => {
    const { storage, locks, calls } = counted();
    const store = new PositionStore(storage, locks, "assured:");
    store.save("room", { epoch: "E", offset: 5 }, () => {});
    await store.flush();
    store.save("room", { epoch: "E", offset: 6 }, () => {});
    await store.flush();
    expect(calls).toEqual({ get: 2, set: 2, lock: 2 });
  });
});

describe("position writes read what another tab stored", () => {
  it("a position another tab wrote since this store's last write is read, not the one this store remembers", async () => {
    const storage = memoryStorage();
    const store = new PositionStore(storage, memoryLocks(), "assured:");
    const report = (e: unknown) => {
      throw e;
    };
    store.save("room", { epoch: "E", offset: 5 }, report);
    await store.flush();
    // Another tab, faster, got further.
    await storage.set("assured:pos:room", JSON.stringify({ epoch: "E", offset: 9 }));
    store.save("room", { epoch: "E", offset: 7 }, report);
    await store.flush();
    expect(await storedOffset(storage, "room")).toBe(9);
    // This store's own last write is compared as written: later offsets go on from it.
    store.save("room", { epoch: "E", offset: 10 }, report);
    await store.flush();
    store.save("room", { epoch: "E", offset: 8 }, report);
    await store.flush();
    expect(await storedOffset(storage, "room")).toBe(10);
  });

  it("after a failed write the stored value is read again (nothing is assumed about it)", async () => {
    const inner = memoryStorage();
    let fail = false;
    const storage: ClientStorage = {
      get: (key) => inner.get(key),
      remove: (key) => inner.remove(key),
      set: async (key, value) => {
        if (fail) {
          // The write reached the disk but reported a failure (a quota error after the write).
          await inner.set(key, value);
          throw new Error("quota");
        }
        await inner.set(key, value);
      },
    };
    const store = new PositionStore(storage, memoryLocks(), "assured:");
    const errors: unknown[] = [];
    store.save("room", { epoch: "E", offset: 3 }, (e) => errors.push(e));
    await store.flush();
    fail = true;
    store.save("room", { epoch: "E", offset: 6 }, (e) => errors.push(e));
    await store.flush();
    fail = false;
    store.save("room", { epoch: "E", offset: 4 }, (e) => errors.push(e));
    await store.flush();
    expect(errors).toHaveLength(1);
    expect(await storedOffset(inner, "room")).toBe(6);
  });
});

describe("corrections (outcomes that did not recover) among tabs", () => {
  const report = (e: unknown) => {
    throw e;
  };
  const stored = async (storage: ClientStorage) =>
    JSON.parse((await storage.get("assured:pos:room")) ?? "null") as Position | null;

  it("replaces the position the server judged, even with a lower one or offset 0 of a log with no event", async () => {
    const storage = memoryStorage();
    const store = new PositionStore(storage, memoryLocks(), "assured:");
    const judged = { epoch: "E1", offset: 7, id: "a7" };
    await storage.set("assured:pos:room", JSON.stringify(judged));
    store.save("room", { epoch: "", offset: 0 }, report, [judged]); // the log was lost
    await store.flush();
    expect(await stored(storage)).toEqual({ epoch: "", offset: 0 });
    store.save("room", { epoch: "", offset: 0 }, report); // an ordinary save of the same: kept
    store.save("room", { epoch: "E1", offset: 0 }, report); // offset 0 of another epoch: ignored
    await store.flush();
    expect(await stored(storage)).toEqual({ epoch: "", offset: 0 });
  });

  it("keeps one entry per judged position when corrections merge (bounded however many reconnects)", () => {
    const a = { epoch: "E1", offset: 7, id: "a7" };
    let judged = mergeJudged([], [a, null]);
    for (let n = 0; n < 100; n++) judged = mergeJudged(judged, [{ ...a }, null]);
    expect(judged).toEqual([a, null]);
    expect(mergeJudged(judged, [{ epoch: "E1", offset: 8, id: "a8" }])).toHaveLength(3);
  });

  it("replaces what this store wrote last, also when its own newer write was still queued (the judged one)", async () => {
    const storage = memoryStorage();
    const store = new PositionStore(storage, memoryLocks(), "assured:");
    store.save("room", { epoch: "E", offset: 8, id: "a8" }, report);
    await store.flush();
    // 9 handled (queued, not written), then the log is found rewritten under 9: back to 3.
    store.save("room", { epoch: "E", offset: 9, id: "a9" }, report);
    store.save("room", { epoch: "E", offset: 3, id: "b3" }, report, [
      { epoch: "E", offset: 9, id: "a9" },
    ]);
    await store.flush();
    expect(await stored(storage)).toEqual({ epoch: "E", offset: 3, id: "b3" });
  });

  it("replaces any position of the judged log when leaving it for another epoch, whichever tab wrote it", async () => {
    const storage = memoryStorage();
    const locks = memoryLocks();
    const page = new PositionStore(storage, locks, "assured:");
    const other = new PositionStore(storage, locks, "assured:");
    page.save("room", { epoch: "E1", offset: 4, id: "a4" }, report);
    await page.flush();
    other.save("room", { epoch: "E1", offset: 5, id: "a5" }, report); // a tab that closed since
    await other.flush();
    // The page handled 6 (queued), then the log was lost: its correction judged 6.
    page.save("room", { epoch: "E1", offset: 6, id: "a6" }, report);
    page.save("room", { epoch: "E2", offset: 0 }, report, [{ epoch: "E1", offset: 6, id: "a6" }]);
    await page.flush();
    expect(await stored(storage)).toEqual({ epoch: "E2", offset: 0 });
  });

  it("leaves a position another tab wrote after the judged one: a late correction does not undo its progress", async () => {
    const storage = memoryStorage();
    const locks = memoryLocks();
    const fast = new PositionStore(storage, locks, "assured:");
    const late = new PositionStore(storage, locks, "assured:");
    // Both tabs were at E1@3 when the log was lost; the fast tab resynced and handled 5 events
    // of the new log E2 before the late tab's correction (no event yet when it was judged) lands.
    const before = { epoch: "E1", offset: 3, id: "a3" };
    await storage.set("assured:pos:room", JSON.stringify(before));
    fast.save("room", { epoch: "", offset: 0 }, report, [before]);
    await fast.flush();
    fast.save("room", { epoch: "E2", offset: 5, id: "b5" }, report);
    await fast.flush();
    late.save("room", { epoch: "", offset: 0 }, report, [before]);
    await late.flush();
    expect(await stored(storage)).toEqual({ epoch: "E2", offset: 5, id: "b5" });
    // The same within one epoch (a diverged log): a late rewind to 3 leaves 5.
    late.save("room", { epoch: "E2", offset: 3, id: "c3" }, report, [
      { epoch: "E2", offset: 9, id: "old9" },
    ]);
    await late.flush();
    expect(await stored(storage)).toEqual({ epoch: "E2", offset: 5, id: "b5" });
  });
});

describe("socket options Assured cannot work with", () => {
  it("a socket created with ackTimeout (error-first acks) or retries is refused with the fix", () => {
    const options = { autoConnect: false, forceNew: true, transports: ["websocket"] };
    const withAckTimeout = io("http://127.0.0.1:9", { ...options, ackTimeout: 5000 });
    const withRetries = io("http://127.0.0.1:9", { ...options, retries: 3 });
    expect(() => createAssuredClient(withAckTimeout)).toThrow(/ackTimeout/);
    expect(() => createAssuredClient(withRetries)).toThrow(/retries/);
  });
});
