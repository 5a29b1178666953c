import { type ClientStorage, memoryLocks, memoryStorage } from "@assured/core/protocol";
import { io } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { createAssuredClient } from "../src/index.js";
import { PositionStore } from "../src/position-store.js";

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

describe("socket options Assured cannot work with", () => {
  it("a socket created with ackTimeout (error-first acks) or retries is refused with the fix", () => {
    const options = { autoConnect: false, forceNew: true, transports: ["websocket"] };
    const withAckTimeout = io("http://127.0.0.1:9", { ...options, ackTimeout: 5000 });
    const withRetries = io("http://127.0.0.1:9", { ...options, retries: 3 });
    expect(() => createAssuredClient(withAckTimeout)).toThrow(/ackTimeout/);
    expect(() => createAssuredClient(withRetries)).toThrow(/retries/);
  });
});
