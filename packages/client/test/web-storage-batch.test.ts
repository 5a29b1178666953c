import { isAssuredError } from "@assured/core";
import { describe, expect, it } from "vitest";
import { indexedDbStorage, type WebStorageLike, webStorage } from "../src/index.js";

/**
 * A test double of the browser's Web Storage API: string values and a `QuotaExceededError`
 * (a `DOMException`, as browsers throw) when the stored keys and values would exceed
 * `quotaChars` characters.
 */
class QuotaStorage implements WebStorageLike {
  readonly items = new Map<string, string>();
  readonly calls: string[] = [];
  constructor(readonly quotaChars = Number.POSITIVE_INFINITY) {}
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.calls.push(`set ${key}`);
    let used = 0;
    for (const [k, v] of this.items) if (k !== key) used += k.length + v.length;
    if (used + key.length + value.length > this.quotaChars) {
      throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
    }
    this.items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.calls.push(`remove ${key}`);
    this.items.delete(key);
  }
}

describe("webStorage batch", () => {
  it("applies the writes in order, with the prefix", async () => {
    const backing = new QuotaStorage();
    const storage = webStorage(backing, { prefix: "app:" });
    expect(storage.batch).toBeTypeOf("function");
    await storage.batch!([
      { key: "a", value: "1" },
      { key: "b", value: "2" },
      { key: "a", value: "3" },
    ]);
    expect(Object.fromEntries(backing.items)).toEqual({ "app:a": "3", "app:b": "2" });
    expect(backing.calls).toEqual(["set app:a", "set app:b", "set app:a"]);
    expect(await storage.get("a")).toBe("3");
  });

  it("deletes keys whose value is null (absent keys too)", async () => {
    const backing = new QuotaStorage();
    const storage = webStorage(backing);
    await storage.set("gone", "x");
    await storage.set("kept", "y");
    await storage.batch!([
      { key: "gone", value: null },
      { key: "never", value: null },
      { key: "new", value: "z" },
    ]);
    expect(Object.fromEntries(backing.items)).toEqual({ kept: "y", new: "z" });
  });

  it("an empty batch changes nothing", async () => {
    const backing = new QuotaStorage();
    const storage = webStorage(backing);
    await storage.batch!([]);
    expect(backing.calls).toEqual([]);
  });

  it("a quota error mid-batch restores every earlier write and rejects STORE_UNAVAILABLE", async () => {
    const backing = new QuotaStorage(60);
    const storage = webStorage(backing);
    await storage.set("old", "0123456789"); // 13 chars
    await storage.set("del", "abc"); // 6 chars
    const before = new Map(backing.items);
    const error = await storage.batch!([
      { key: "old", value: "changed" }, // replaces a value
      { key: "del", value: null }, // deletes one
      { key: "new", value: "fits" }, // adds one
      { key: "old", value: "changed again" }, // the same key twice
      { key: "big", value: "x".repeat(100) }, // over the quota
      { key: "after", value: "never written" },
    ]).catch((e: unknown) => e);
    expect(isAssuredError(error, "STORE_UNAVAILABLE")).toBe(true);
    expect((error as Error).message).toContain('"big"');
    expect((error as Error).message).toContain("nothing of the batch was kept");
    expect((error as Error).cause).toBeInstanceOf(DOMException);
    expect(((error as Error).cause as DOMException).name).toBe("QuotaExceededError");
    expect(backing.items).toEqual(before);
    expect(backing.calls).not.toContain("set after");
    // The storage still works afterwards.
    await storage.batch!([{ key: "new", value: "fits" }]);
    expect(await storage.get("new")).toBe("fits");
  });

  it("a failing first write leaves the storage untouched", async () => {
    const backing = new QuotaStorage(10);
    const storage = webStorage(backing);
    const error = await storage.batch!([{ key: "k", value: "x".repeat(20) }]).catch((e) => e);
    expect(isAssuredError(error, "STORE_UNAVAILABLE")).toBe(true);
    expect(backing.items.size).toBe(0);
  });

  it("says when the rollback itself failed", async () => {
    class BrokenRollback extends QuotaStorage {
      override removeItem(key: string): void {
        if (key === "b") throw new Error("disk gone");
        super.removeItem(key);
      }
    }
    const backing = new BrokenRollback(20);
    const error = await webStorage(backing).batch!([
      { key: "b", value: "1" },
      { key: "c", value: "x".repeat(30) },
    ]).catch((e) => e);
    expect(isAssuredError(error, "STORE_UNAVAILABLE")).toBe(true);
    expect((error as Error).message).toContain("may be partly applied");
  });

  it("rejects malformed writes with INVALID_ARGUMENT before writing anything", async () => {
    const backing = new QuotaStorage();
    const storage = webStorage(backing);
    for (const writes of [
      "nope",
      [{ key: 1, value: "v" }],
      [{ key: "k", value: 5 }],
      [{ key: "ok", value: "v" }, null],
    ]) {
      const error = await storage.batch!(writes as never).catch((e) => e);
      expect(isAssuredError(error, "INVALID_ARGUMENT")).toBe(true);
    }
    expect(backing.calls).toEqual([]);
  });
});

// Node has no IndexedDB, which is how indexedDbStorage behaves where it is unavailable. The
// IndexedDB behaviour itself is tested in Chromium (e2e/test/browser-storage.test.ts).
describe("indexedDbStorage outside a browser", () => {
  it("constructs without touching IndexedDB and fails at first use with STORE_UNAVAILABLE", async () => {
    expect(typeof (globalThis as { indexedDB?: unknown }).indexedDB).toBe("undefined");
    const storage = indexedDbStorage();
    for (const attempt of [
      () => storage.get("k"),
      () => storage.set("k", "v"),
      () => storage.remove("k"),
      () => storage.batch!([{ key: "k", value: "v" }]),
    ]) {
      const error = await attempt().catch((e) => e);
      expect(isAssuredError(error, "STORE_UNAVAILABLE")).toBe(true);
      expect((error as Error).message).toContain("webStorage(localStorage)");
      expect((error as Error).message).toContain("memoryStorage()");
    }
  });

  it("validates its options", () => {
    expect(() => indexedDbStorage({ dbName: "a", storeName: "b" })).not.toThrow();
    const invalid = (run: () => unknown, text: string) => {
      let error: unknown;
      try {
        run();
      } catch (e) {
        error = e;
      }
      expect(isAssuredError(error, "INVALID_ARGUMENT")).toBe(true);
      expect((error as Error).message).toContain(text);
    };
    invalid(() => indexedDbStorage({ dbname: "a" } as never), '"dbname"');
    invalid(() => indexedDbStorage({ dbName: 1 } as never), "dbName");
    invalid(() => indexedDbStorage({ storeName: "" }), "storeName");
    invalid(() => indexedDbStorage(null as never), "object");
  });
});
