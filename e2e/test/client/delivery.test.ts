import { encode } from "@assured/core";
import { memoryStorage, packRecords } from "@assured/core/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { eventually, once, range, type TestClient, TestServer, testClient } from "./harness.js";

const S = "room:1";
let server: TestServer;
const clients: TestClient[] = [];

function track(c: TestClient): TestClient {
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.client.close();
  await server?.stop();
});

describe("delivery (real socket.io server and client)", () => {
  it("G1 + G3: a replayed history and live events reach the handler once each, in order", async () => {
    server = await new TestServer().start({ limits: { fetchLimit: 7 } });
    await server.publishMany(S, 1, 40);
    const c = track(testClient(server.url));
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    await c.ticks(S, 40);
    await Promise.all([server.publishMany(S, 41, 30), server.publishMany("other", 1, 5)]);
    expect(await c.ticks(S, 70)).toEqual(range(1, 70));
    expect(c.outcomes).toEqual([{ stream: S, recovered: true }]);
  });

  it("G1: handlers run one at a time per stream, even when they are slow", async () => {
    server = await new TestServer().start();
    const c = track(testClient(server.url));
    let running = 0;
    let overlap = false;
    const order: number[] = [];
    c.client.on<{ n: number }>("slow", async ({ n }) => {
      running++;
      if (running > 1) overlap = true;
      await new Promise((resolve) => setImmediate(resolve));
      order.push(n);
      running--;
      c.waiter.poke();
    });
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    await Promise.all(range(1, 20).map((n) => server.assured.publish(S, "slow", { n })));
    await c.waiter.until(() => order.length === 20, "20 slow events");
    expect(order).toEqual(range(1, 20));
    expect(overlap).toBe(false);
  });

  it("G5: events published while disconnected are replayed after the reconnect, then live follows with no seam", async () => {
    server = await new TestServer().start();
    const c = track(testClient(server.url));
    c.client.subscribe(S, { from: "head" });
    await c.client.connect();
    await c.waiter.until(() => c.outcomes.length === 1, "first outcome");
    await server.publishMany(S, 1, 5);
    await c.ticks(S, 5);
    c.socket.disconnect();
    await server.publishMany(S, 6, 10);
    const reconnected = once(c.socket, "connect");
    c.socket.connect();
    await reconnected;
    const live = server.publishMany(S, 16, 5);
    expect(await c.ticks(S, 20)).toEqual(range(1, 20));
    await live;
    expect(c.outcomes).toEqual([
      { stream: S, recovered: true },
      { stream: S, recovered: true },
    ]);
  });

  it("G5: a connection that drops mid-replay resumes with no loss and no duplicate", async () => {
    server = await new TestServer().start({ limits: { fetchLimit: 10 } });
    await server.publishMany(S, 1, 200);
    const c = track(testClient(server.url));
    let dropped = false;
    c.client.on<{ n: number }>("tick", ({ n }) => {
      if (n === 50 && !dropped) {
        dropped = true;
        c.socket.io.engine.close(); // the connection drops; the client reconnects by itself
      }
    });
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    expect(await c.ticks(S, 200)).toEqual(range(1, 200));
    expect(dropped).toBe(true);
    expect(c.outcomes).toEqual([
      { stream: S, recovered: true },
      { stream: S, recovered: true },
    ]);
  });

  it("G5: a new client on the same storage (a page reload) continues from the saved position", async () => {
    server = await new TestServer().start();
    const storage = memoryStorage();
    const first = testClient(server.url, { storage });
    first.client.subscribe(S, { from: "earliest" });
    await first.client.connect();
    await server.publishMany(S, 1, 8);
    await first.ticks(S, 8);
    await first.client.close();
    await server.publishMany(S, 9, 4);
    const second = track(testClient(server.url, { storage }));
    second.client.subscribe(S, { from: "earliest" });
    await second.client.connect();
    expect(await second.ticks(S, 4)).toEqual(range(9, 12));
    expect(second.outcomes).toEqual([{ stream: S, recovered: true }]);
  });

  it("G5: recovers across a server restart on the same store", async () => {
    server = await new TestServer().start();
    const c = track(testClient(server.url));
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    await server.publishMany(S, 1, 3);
    await c.ticks(S, 3);
    const dropped = once(c.socket, "disconnect");
    await server.stop();
    await dropped;
    await server.start();
    await server.publishMany(S, 4, 3);
    expect(await c.ticks(S, 6)).toEqual(range(1, 6));
    await c.waiter.until(() => c.outcomes.length === 2, "second outcome");
    expect(c.outcomes[1]).toEqual({ stream: S, recovered: true });
  });

  it("G6: a store that lost its log reports `epoch` and the client continues in the new epoch", async () => {
    server = await new TestServer().start();
    const c = track(testClient(server.url));
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    await server.publishMany(S, 1, 3);
    await c.ticks(S, 3);
    const dropped = once(c.socket, "disconnect");
    await server.stop();
    await dropped;
    const { MemoryEventStore } = await import("@assured/core");
    const wiped = new MemoryEventStore();
    await server.start({}, wiped);
    await c.waiter.until(() => c.outcomes.length === 2, "outcome after the wipe");
    expect(c.outcomes[1]).toEqual({ stream: S, recovered: false, reason: "epoch" });
    await server.assured.publish(S, "tick", { n: 100 });
    expect(await c.ticks(S, 4)).toEqual([1, 2, 3, 100]);
  });

  it("G6: a position older than retention reports `trimmed`; resubscribe resyncs", async () => {
    const { MemoryEventStore } = await import("@assured/core");
    server = await new TestServer(new MemoryEventStore({ retention: { maxLength: 3 } })).start();
    const c = track(testClient(server.url));
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    await server.publishMany(S, 1, 1);
    await c.ticks(S, 1);
    c.socket.disconnect();
    await server.publishMany(S, 2, 6);
    const reconnected = once(c.socket, "connect");
    c.socket.connect();
    await reconnected;
    await c.waiter.until(() => c.outcomes.filter((o) => o.stream === S).length === 2, "outcome");
    expect(c.outcomes.filter((o) => o.stream === S)[1]).toEqual({
      stream: S,
      recovered: false,
      reason: "trimmed",
    });
    // Resync: replay what is retained.
    c.client.resubscribe(S, { from: "earliest" });
    expect(await c.ticks(S, 4)).toEqual([1, 5, 6, 7]);
  });

  it("G6: more missed events than replayLimit reports `limit` and moves to the head", async () => {
    server = await new TestServer().start({ limits: { replayLimit: 5 } });
    const c = track(testClient(server.url));
    c.client.subscribe("big", { from: "earliest" });
    await c.client.connect();
    await server.publishMany("big", 1, 2);
    await c.ticks("big", 2);
    c.socket.disconnect();
    await server.publishMany("big", 3, 7);
    c.socket.connect();
    await c.waiter.until(() => c.outcomes.length === 2, "second outcome");
    expect(c.outcomes[1]).toEqual({
      stream: "big",
      recovered: false,
      reason: "limit",
    });
    expect(c.client.position("big")?.offset).toBe(9);
  });

  it("G3: a handler that throws pauses the stream; the event is delivered again on resume", async () => {
    server = await new TestServer().start();
    const c = track(testClient(server.url));
    const handled: number[] = [];
    let failOnce = true;
    c.client.on<{ n: number }>("flaky", ({ n }) => {
      if (n === 2 && failOnce) {
        failOnce = false;
        throw new Error("boom");
      }
      handled.push(n);
      c.waiter.poke();
    });
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    for (const n of [1, 2, 3]) await server.assured.publish(S, "flaky", { n });
    const error = await c.waiter.until(() => c.errors[0], "handler error");
    expect(error).toMatchObject({ code: "HANDLER_ERROR", details: { stream: S, offset: 2 } });
    expect(handled).toEqual([1]);
    expect(c.client.position(S)?.offset).toBe(1);
    c.client.resume(S);
    await c.waiter.until(() => handled.length === 3, "redelivery");
    expect(handled).toEqual([1, 2, 3]);
  });

  it("G6: resubscribe before connecting ignores the stored position (resync from earliest)", async () => {
    server = await new TestServer().start();
    const storage = memoryStorage();
    const first = testClient(server.url, { storage });
    first.client.subscribe(S, { from: "earliest" });
    await first.client.connect();
    await server.publishMany(S, 1, 3);
    await first.ticks(S, 3);
    await first.client.close();
    const second = track(testClient(server.url, { storage }));
    second.client.subscribe(S);
    second.client.resubscribe(S, { from: "earliest" });
    await second.client.connect();
    expect(await second.ticks(S, 3)).toEqual([1, 2, 3]);
  });

  it("G12: a malformed frame from the server is reported as BAD_FRAME and delivery goes on", async () => {
    server = await new TestServer().start();
    const c = track(testClient(server.url));
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    await c.waiter.until(() => c.outcomes.length === 1, "outcome");
    server.io.emit("assured:batch", { stream: S, epoch: "x", records: [[1, "id", "tick", 99, 0]] });
    server.io.emit("assured:subscribed", "garbage");
    await c.waiter.until(() => c.errors.length === 2, "two errors");
    expect(c.errors.map((e) => (e as { code?: string }).code)).toEqual(["BAD_FRAME", "BAD_FRAME"]);
    await server.publishMany(S, 1, 2);
    expect(await c.ticks(S, 2)).toEqual([1, 2]);
  });

  it("G12: inline (base64) columns that do not match their records are BAD_FRAME and delivery goes on", async () => {
    server = await new TestServer().start();
    const c = track(testClient(server.url));
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    await c.waiter.until(() => c.outcomes.length === 1, "outcome");
    const good = packRecords([{ offset: 1, id: "id", name: "tick", payload: encode(1), time: 0 }]);
    const text = good.columns as string;
    const frame = (columns: unknown, bytes = good.bytes) => ({
      stream: S,
      epoch: "x",
      records: { ...good, bytes, columns },
    });
    server.io.emit("assured:batch", frame("!!!!")); // outside the alphabet
    server.io.emit("assured:batch", frame(`${text}AAAA`)); // 3 bytes more than the records
    server.io.emit("assured:batch", frame(`AA==${text}`)); // padding inside
    server.io.emit("assured:batch", frame(42)); // neither string nor binary
    server.io.emit("assured:batch", frame(text, good.bytes + 1)); // payloads announced longer
    // The first protocol's record arrays.
    server.io.emit("assured:batch", { ...frame(text), records: [[1, "id", "tick", 1, 0]] });
    await c.waiter.until(() => c.errors.length === 6, "six errors");
    expect(new Set(c.errors.map((e) => (e as { code?: string }).code))).toEqual(
      new Set(["BAD_FRAME"]),
    );
    await server.publishMany(S, 1, 2);
    expect(await c.ticks(S, 2)).toEqual([1, 2]);
  });

  it("G12: bad arguments are typed errors", async () => {
    server = await new TestServer().start();
    const c = track(testClient(server.url));
    expect(() => c.client.subscribe("")).toThrow(
      expect.objectContaining({ code: "INVALID_STREAM" }),
    );
    expect(() => c.client.subscribe(S, { from: "middle" as never })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    await c.client.connect();
    await expect(c.client.emit("assured:msg", 1)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  });

  it("G8: a message emitted before connect() is stored, and sent once the client connects", async () => {
    server = await new TestServer().start();
    let runs = 0;
    server.assured.on("early", async (n: number) => {
      runs++;
      return n * 2;
    });
    const c = track(testClient(server.url));
    const answer = c.client.emit<number>("early", 21);
    await eventually(() => c.client.pending().length === 1, "the message stored before connect");
    expect(c.socket.connected).toBe(false);
    expect(runs).toBe(0);
    await c.client.connect();
    expect(await answer).toBe(42);
    expect(runs).toBe(1);
  });

  it("G12: null options, non-function listeners and bad option values are INVALID_ARGUMENT, not TypeErrors", async () => {
    server = await new TestServer().start();
    const c = track(testClient(server.url));
    const invalid = expect.objectContaining({ code: "INVALID_ARGUMENT" });
    expect(() => c.client.subscribe(S, null as never)).toThrow(invalid);
    expect(() => c.client.resubscribe(S, null as never)).toThrow(invalid);
    expect(() => c.client.onRecovery("x" as never)).toThrow(invalid);
    expect(() => c.client.onResult(undefined as never)).toThrow(invalid);
    expect(() => c.client.onError(42 as never)).toThrow(invalid);
    await c.client.connect();
    await expect(c.client.emit("x", 1, null as never)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(c.client.emit("x", 1, { id: "" })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    for (const options of [
      { maxPayloadBytes: 1.5 },
      { window: 0 },
      { retry: { initialMs: 0, maxMs: 1, factor: 2 } },
      { storagePrefix: 3 },
      { random: "x" },
      { maxPayloadByte: 10 }, // a typo is not silently ignored
    ]) {
      expect(() => testClient(server.url, options as never)).toThrow(invalid);
    }
    // The client keeps working.
    c.client.subscribe(S, { from: "earliest" });
    await server.publishMany(S, 1, 1);
    expect(await c.ticks(S, 1)).toEqual([1]);
  });

  it("G11: emits of one id share one waiter; all of them get the answer", async () => {
    server = await new TestServer().start();
    let runs = 0;
    server.assured.on("once", () => ++runs);
    const c = track(testClient(server.url));
    await c.client.connect();
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => c.client.emit("once", null, { id: "same-id" })),
    );
    expect(answers).toEqual(Array.from({ length: 50 }, () => 1));
    expect(runs).toBe(1);
  });
});
