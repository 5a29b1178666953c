import { isAssuredError } from "@assured/core";
import { memoryStorage, Outbox } from "@assured/core/protocol";
import { describe, expect, it } from "vitest";
import { type WebStorageLike, webStorage } from "../src/index.js";

/** A Web Storage stand-in with the real API's semantics (string values, quota errors). */
class QuotaStorage implements WebStorageLike {
  readonly items = new Map<string, string>();
  constructor(readonly quotaChars = Number.POSITIVE_INFINITY) {}
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    let used = 0;
    for (const [k, v] of this.items) if (k !== key) used += k.length + v.length;
    if (used + key.length + value.length > this.quotaChars) {
      throw new Error("QuotaExceededError: the quota has been exceeded.");
    }
    this.items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

describe("storage adapters", () => {
  it("webStorage prefixes keys and round-trips values", async () => {
    const backing = new QuotaStorage();
    const storage = webStorage(backing, { prefix: "app:" });
    await storage.set("k", "v");
    expect(backing.items.get("app:k")).toBe("v");
    expect(await storage.get("k")).toBe("v");
    await storage.remove("k");
    expect(await storage.get("k")).toBeNull();
  });

  it("G8: the outbox round-trips through webStorage (a reload reads what the last page wrote)", async () => {
    const backing = new QuotaStorage();
    const first = await Outbox.open({ storage: webStorage(backing) });
    const bytes = new Uint8Array([0, 255, 128]);
    const m = await first.add("upload", bytes, 1);
    const second = await Outbox.open({ storage: webStorage(backing) });
    expect(second.clientId).toBe(first.clientId);
    expect(second.pending()).toEqual([{ ...m, payload: bytes }]);
  });

  it("G11: a full Web Storage rejects the write with STORE_UNAVAILABLE (emit fails, nothing is sent)", async () => {
    const storage = webStorage(new QuotaStorage(400));
    const outbox = await Outbox.open({ storage });
    const error = await outbox.add("big", new Uint8Array(1000), 1).catch((e) => e);
    expect(isAssuredError(error, "STORE_UNAVAILABLE")).toBe(true);
    expect(outbox.size).toBe(0);
  });

  it("memoryStorage keeps values per instance", async () => {
    const a = memoryStorage();
    const b = memoryStorage();
    await a.set("k", "1");
    expect(await a.get("k")).toBe("1");
    expect(await b.get("k")).toBeNull();
  });

  it("G12: webStorage rejects something that is not a Web Storage", () => {
    expect(() => webStorage({} as WebStorageLike)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});
