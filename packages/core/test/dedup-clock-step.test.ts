import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { decode, encode, MemoryDedupStore } from "../src/index.js";
import { Deduplicator } from "../src/protocol-entry.js";
import type { StoredResponse } from "../src/store-entry.js";

const OPTIONS = { leaseMs: 5_000, ttlMs: 60_000 };
const HOUR = 3_600_000;

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const result = (value: unknown): StoredResponse => ({ ok: true, payload: encode(value) });

describe("Deduplicator under a wall-clock step (chaos clock-jump)", () => {
  // Only `Date` is replaced (the wall clock as the process sees it, as libfaketime does for a
  // node in the chaos run); timers and `performance.now` stay real.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(1_800_000_000_000);
  });
  afterEach(() => vi.useRealTimers());

  it("G9: a copy that arrives after the wall clock jumped an hour forward joins the running handler instead of running it again", async () => {
    // Default clocks: the store's lease is judged by the wall clock (as SQLite's is).
    const dedup = new Deduplicator(new MemoryDedupStore(), OPTIONS);
    const running = deferred<StoredResponse>();
    const started = deferred<void>();
    let runs = 0;
    const first = dedup.run("k", "f", () => {
      runs++;
      started.resolve();
      return running.promise;
    });
    await started.promise;
    vi.setSystemTime(Date.now() + HOUR);
    const copy = dedup.run("k", "f", async () => {
      runs++;
      return result("copy");
    });
    running.resolve(result("first"));
    const [a, b] = await Promise.all([first, copy]);
    expect(runs).toBe(1);
    expect(decode(a.response.payload)).toBe("first");
    expect(b.duplicate).toBe(true);
    expect(decode(b.response.payload)).toBe("first");
  });
});
