import { MemoryEventStore } from "@assured/core";
import type { EventStore } from "@assured/core/store";
import { afterEach, describe, expect, it } from "vitest";
import { type TestClient, TestServer, testClient } from "./harness.js";

const S = "feed";
let server: TestServer;
let c: TestClient | undefined;

afterEach(async () => {
  await c?.client.close();
  c = undefined;
  await server?.stop();
});

/** A real memory store whose head reads fail while `down` (as a driver does when the database is away). */
function switchableStore(): { store: EventStore; outage: { down: boolean; headCalls: number } } {
  const inner = new MemoryEventStore();
  const outage = { down: false, headCalls: 0 };
  const store: EventStore = {
    capabilities: inner.capabilities,
    append: (stream, entries) => inner.append(stream, entries),
    read: (stream, options) => inner.read(stream, options),
    reset: (stream) => inner.reset(stream),
    head: async (stream) => {
      outage.headCalls++;
      if (outage.down) throw new Error("connect ECONNREFUSED 127.0.0.1:27017");
      return inner.head(stream);
    },
    close: () => inner.close(),
  };
  return { store, outage };
}

describe("subscription refused with a retryable error", () => {
  it("G2: a subscription refused with STORE_UNAVAILABLE is sent again with backoff and then delivers, without a reconnect", async () => {
    const { store, outage } = switchableStore();
    server = await new TestServer(store).start();
    await server.publishMany(S, 1, 1);
    outage.down = true;
    c = testClient(server.url, {
      positionCheckIntervalMs: 600_000,
      retry: { initialMs: 20, maxMs: 20, factor: 1 },
    });
    const connects: number[] = [];
    c.socket.on("connect", () => connects.push(1));
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    const refused = await c.waiter.until(() => c?.errors[0], "refusal");
    expect((refused as { code?: string }).code).toBe("STORE_UNAVAILABLE");
    outage.down = false;
    await server.publishMany(S, 2, 1);
    expect(await c.ticks(S, 2)).toEqual([1, 2]);
    expect(c.outcomes).toEqual([{ stream: S, recovered: true }]);
    expect(connects).toEqual([1]);
  });

  it("a final refusal (UNAUTHORIZED) is not retried", async () => {
    server = await new TestServer().start({ authorize: () => false });
    let subscribeFrames = 0;
    server.io.on("connection", (socket) => {
      socket.onAny((event: string) => {
        if (event === "assured:sub") subscribeFrames++;
      });
    });
    c = testClient(server.url, { retry: { initialMs: 1, maxMs: 1, factor: 1 } });
    c.client.subscribe(S);
    await c.client.connect();
    const refused = await c.waiter.until(() => c?.errors[0], "refusal");
    expect((refused as { code?: string }).code).toBe("UNAUTHORIZED");
    // Proving an absence takes time: a retry (an assured:sub frame; the first request rode
    // in the handshake) would come after 1 ms.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(subscribeFrames).toBe(0);
    expect(c.errors).toHaveLength(1);
  });
});
