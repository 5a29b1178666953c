import { AssuredError, MemoryEventStore } from "@assured/core";
import { FRAMES } from "@assured/core/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { range, type TestClient, TestServer, testClient } from "./harness.js";

const S = "room:1";
let server: TestServer;
let c: TestClient | undefined;

afterEach(async () => {
  await c?.client.close();
  c = undefined;
  await server?.stop();
});

/**
 * Fault injection: the adapter drops the live batch that carries `offset` (as when the
 * emitting node dies between append and emit, or an adapter loses a packet).
 */
function dropLiveBatch(offset: number): void {
  const adapter = server.io.of("/").adapter;
  const broadcast = adapter.broadcast.bind(adapter);
  adapter.broadcast = (packet, opts) => {
    const [event, frame] = packet.data as [string, { records?: { first: number; count: number } }];
    const { first = 0, count = 0 } = frame.records ?? {};
    if (event === FRAMES.batch && offset >= first && offset < first + count) return;
    broadcast(packet, opts);
  };
}

/** Counts `assured:fetch` frames the server receives. */
function countFetches(): { count: number } {
  const counter = { count: 0 };
  server.io.on("connection", (socket) => {
    socket.onAny((event: string) => {
      if (event === FRAMES.fetch) counter.count++;
    });
  });
  return counter;
}

describe("gap repair (G7)", () => {
  it("G7: a live batch that skips ahead is repaired by a fetch before later events are delivered", async () => {
    server = await new TestServer().start();
    const fetches = countFetches();
    // The stream exists before the client subscribes: the first events of a stream new to the
    // client are checked by a fetch of their own (an epoch the client has not seen yet).
    await server.publishMany(S, 1, 1);
    c = testClient(server.url);
    c.client.subscribe(S, { from: "head" });
    await c.client.connect();
    await c.waiter.until(() => c?.outcomes.length === 1, "outcome");
    dropLiveBatch(3);
    await server.publishMany(S, 2, 5);
    expect(await c.ticks(S, 5)).toEqual(range(2, 6));
    expect(fetches.count).toBe(1);
  });

  it("G7: the periodic position check repairs a trailing gap (the last event was lost)", async () => {
    server = await new TestServer().start();
    c = testClient(server.url, { positionCheckIntervalMs: 20 });
    c.client.subscribe(S, { from: "head" });
    await c.client.connect();
    await c.waiter.until(() => c?.outcomes.length === 1, "outcome");
    dropLiveBatch(3);
    await server.publishMany(S, 1, 3);
    expect(await c.ticks(S, 3)).toEqual([1, 2, 3]);
  });

  it("G2/G11: live events that overflow a slow client's buffer are fetched as soon as it drains, not at the next position check", async () => {
    server = await new TestServer().start();
    // The position check is far away (default 15 s): only prompt refetching delivers in time.
    c = testClient(server.url, { maxBufferedEvents: 20, fetchLimit: 10 });
    c.client.on("tick", async () => {
      // A slow handler: live batches arrive faster than it runs.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    });
    c.client.subscribe(S, { from: "head" });
    await c.client.connect();
    await c.waiter.until(() => c?.outcomes.length === 1, "outcome");
    for (let burst = 0; burst < 5; burst++) {
      await Promise.all(
        range(1, 40).map((i) => server.assured.publish(S, "tick", { n: burst * 40 + i })),
      );
    }
    expect(await c.ticks(S, 200)).toEqual(range(1, 200));
    expect(c.errors).toEqual([]);
  });

  it("G11: a replay larger than the client buffer arrives complete and in order (overflow is fetched)", async () => {
    server = await new TestServer().start({ limits: { fetchLimit: 5 } });
    await server.publishMany(S, 1, 60);
    // Two unacked batches of 5 exceed a buffer of 8: overflow is dropped and fetched again.
    c = testClient(server.url, { maxBufferedEvents: 8, positionCheckIntervalMs: 50 });
    let slowDown = 0;
    c.client.on("tick", async () => {
      // Yield to the event loop so batches arrive while handlers run.
      if (++slowDown % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
    });
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    expect(await c.ticks(S, 60)).toEqual(range(1, 60));
    expect(c.errors).toEqual([]);
  });
});

describe("gap repair retries (G7, G11)", () => {
  it("G7: a gap fetch refused with a retryable error is sent again until the hole is filled", async () => {
    // A store whose next read fails: the fetch of the hole gets STORE_UNAVAILABLE (retryable),
    // as it would get RATE_LIMITED or LIMIT_EXCEEDED from the server's budgets.
    let failReads = 0;
    const store = new MemoryEventStore();
    // Both read paths fail: the server reads pages with `readPacked` where the store has it.
    const failing =
      <A extends unknown[], R>(original: (...args: A) => Promise<R>) =>
      (...args: A): Promise<R> => {
        if (failReads > 0) {
          failReads--;
          return Promise.reject(new AssuredError("STORE_UNAVAILABLE", "injected read failure"));
        }
        return original(...args);
      };
    store.read = failing(store.read.bind(store));
    store.readPacked = failing(store.readPacked.bind(store));
    server = await new TestServer(store).start();
    const fetches = countFetches();
    // The stream exists before the client subscribes (its epoch is known: no check fetch).
    await server.publishMany(S, 1, 1);
    c = testClient(server.url, { retry: { initialMs: 20, maxMs: 50, factor: 2 } });
    c.client.subscribe(S, { from: "head" });
    await c.client.connect();
    await c.waiter.until(() => c?.outcomes.length === 1, "outcome");
    dropLiveBatch(3);
    failReads = 2;
    // The hole at 3 sits inside the stream: the position check never finds it, only a retry does.
    await server.publishMany(S, 2, 4);
    expect(await c.ticks(S, 4)).toEqual(range(2, 5));
    expect(fetches.count).toBe(3);
    expect(c.errors).toEqual([]);
  });
});
