import type { SettledResult } from "@assured/client";
import { AssuredError, MemoryDedupStore } from "@assured/core";
import { type ClientStorage, memoryStorage } from "@assured/core/protocol";
import type { DedupStore } from "@assured/core/store";
import { afterEach, describe, expect, it } from "vitest";
import { messagesIn } from "../../src/message-frames.js";
import { once, range, type TestClient, TestServer, testClient } from "./harness.js";

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

/** A promise with its resolver, to hold a server handler until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe("outbox (real socket.io server and client)", () => {
  it("G9: emit resolves with the handler's result; what it throws rejects as HANDLER_ERROR", async () => {
    server = await new TestServer().start();
    server.assured.on("add", ({ a, b }: { a: number; b: number }) => ({ sum: a + b }));
    server.assured.on("fail", () => {
      const error = new Error("not allowed") as Error & { code: string };
      error.code = "APP_DENIED";
      throw error;
    });
    const c = track(testClient(server.url));
    await c.client.connect();
    await expect(c.client.emit("add", { a: 2, b: 3 })).resolves.toEqual({ sum: 5 });
    const failure = await c.client.emit("fail", {}).catch((e) => e);
    expect(failure).toBeInstanceOf(AssuredError);
    expect(failure).toMatchObject({
      code: "HANDLER_ERROR",
      details: { error: { message: "not allowed", code: "APP_DENIED" } },
    });
    await expect(c.client.emit("nobody-listens", 1)).rejects.toMatchObject({
      code: "UNKNOWN_EVENT",
    });
    expect(c.client.pending()).toEqual([]);
  });

  it("G8: a message is in storage before the server sees it", async () => {
    server = await new TestServer().start();
    const inner = memoryStorage();
    const storage: ClientStorage = inner;
    const storedWhenHandled: boolean[] = [];
    server.assured.on("note", async (_data: unknown, { id }) => {
      storedWhenHandled.push((await inner.get(`assured:msg:${id}`)) !== null);
      return "ok";
    });
    const c = track(testClient(server.url, { storage }));
    await c.client.connect();
    await Promise.all(range(1, 5).map((n) => c.client.emit("note", n)));
    expect(storedWhenHandled).toEqual([true, true, true, true, true]);
  });

  it("G8 + G9: an unanswered message is sent again after a dropped connection and handled once", async () => {
    server = await new TestServer().start();
    const hold = gate();
    let runs = 0;
    let started!: () => void;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    server.assured.on("slow", async (n: number) => {
      runs++;
      started();
      await hold.promise;
      return n * 10;
    });
    const c = track(testClient(server.url));
    await c.client.connect();
    const answer = c.client.emit("slow", 7);
    await running;
    const reconnected = once(c.socket, "connect");
    c.socket.io.engine.close(); // the connection drops; socket.io-client reconnects by itself
    await reconnected;
    hold.open();
    await expect(answer).resolves.toBe(70);
    expect(runs).toBe(1);
  });

  it("G8: a message emitted while offline is sent once the connection is up", async () => {
    server = await new TestServer().start();
    server.assured.on("echo", (x: unknown) => x);
    const c = track(testClient(server.url));
    await c.client.connect();
    await once(c.socket, "connect");
    c.socket.disconnect();
    const answer = c.client.emit("echo", { bytes: new Uint8Array([1, 2, 3]) });
    c.socket.connect();
    await expect(answer).resolves.toEqual({ bytes: new Uint8Array([1, 2, 3]) });
  }, 10_000);

  it("G10: messages are handled in send order while a window of several is in flight", async () => {
    server = await new TestServer().start();
    const handled: number[] = [];
    let received = 0;
    let maxOutstanding = 0;
    server.io.on("connection", (socket) => {
      socket.onAny((event: string, frame: unknown) => {
        const count = messagesIn(event, frame);
        if (count === 0) return;
        received += count;
        maxOutstanding = Math.max(maxOutstanding, received - handled.length);
      });
    });
    server.assured.on("seq", async (n: number) => {
      await new Promise((resolve) => setImmediate(resolve));
      handled.push(n);
      return n;
    });
    const c = track(testClient(server.url, { window: 8 }));
    await c.client.connect();
    const results = await Promise.all(range(1, 40).map((n) => c.client.emit("seq", n)));
    expect(results).toEqual(range(1, 40));
    expect(handled).toEqual(range(1, 40));
    expect(maxOutstanding).toBeGreaterThan(1);
    expect(maxOutstanding).toBeLessThanOrEqual(8);
  });

  it("G10: by default 128 messages are in flight before any is answered (32 capped a client at 32 per round trip)", async () => {
    server = await new TestServer().start();
    let received = 0;
    server.io.on("connection", (socket) => {
      socket.onAny((event: string, frame: unknown) => {
        received += messagesIn(event, frame);
      });
    });
    const held = gate();
    server.assured.on("hold", async (n: number) => {
      await held.promise;
      return n;
    });
    const c = track(testClient(server.url));
    await c.client.connect();
    const results = Promise.all(range(1, 200).map((n) => c.client.emit("hold", n)));
    await expect.poll(() => received, { timeout: 5_000 }).toBe(128);
    held.open();
    await expect(results).resolves.toEqual(range(1, 200));
  });

  it("G11: a payload beyond maxPayloadBytes is refused with PAYLOAD_TOO_LARGE before it is stored, and later messages flow", async () => {
    server = await new TestServer().start();
    server.assured.on("echo", (data: unknown) => data);
    const writes: string[] = [];
    const inner = memoryStorage();
    const storage: ClientStorage = {
      get: (key) => inner.get(key),
      set: (key, value) => {
        writes.push(key);
        return inner.set(key, value);
      },
      remove: (key) => inner.remove(key),
    };
    const c = track(testClient(server.url, { storage }));
    await c.client.connect();
    let disconnects = 0;
    c.socket.on("disconnect", () => disconnects++);
    // Larger than Socket.IO's default maxHttpBufferSize (1 MB): sent, it would drop the
    // connection on every resend.
    const before = writes.length;
    await expect(c.client.emit("echo", new Uint8Array(1_100_000))).rejects.toMatchObject({
      code: "PAYLOAD_TOO_LARGE",
    });
    // Over the default limit, which is the server's default maxPayloadBytes.
    expect(server.assured.limits.maxPayloadBytes).toBe(512 * 1024);
    await expect(c.client.emit("echo", new Uint8Array(512 * 1024))).rejects.toMatchObject({
      code: "PAYLOAD_TOO_LARGE",
    });
    expect(writes.length).toBe(before);
    expect(c.client.pending()).toEqual([]);
    await expect(c.client.emit("echo", "fine")).resolves.toBe("fine");
    expect(disconnects).toBe(0);
    expect(() => testClient(server.url, { maxPayloadBytes: 0 })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });

  it("G10: a window refused by a dedup store outage is handled in send order once the store is back", async () => {
    const inner = new MemoryDedupStore();
    let refusals = 13;
    const dedupStore: DedupStore = {
      capabilities: inner.capabilities,
      claim: async (...args) => {
        if (refusals > 0) {
          refusals--;
          throw new Error("connect ECONNREFUSED");
        }
        return inner.claim(...args);
      },
      complete: (...args) => inner.complete(...args),
      release: (...args) => inner.release(...args),
      renew: (...args) => inner.renew(...args),
      close: () => inner.close(),
    };
    server = await new TestServer().start({ dedupStore });
    const handled: number[] = [];
    server.assured.on("work", (n: number) => {
      handled.push(n);
      return n;
    });
    const c = track(
      testClient(server.url, { window: 32, retry: { initialMs: 1, maxMs: 1, factor: 1 } }),
    );
    await c.client.connect();
    const answers = await Promise.all(range(1, 20).map((n) => c.client.emit("work", n)));
    expect(answers).toEqual(range(1, 20));
    expect(handled).toEqual(range(1, 20));
    expect(refusals).toBe(0);
  });

  it("G8: a retryable error is retried with backoff until the handler succeeds", async () => {
    server = await new TestServer().start();
    let calls = 0;
    server.assured.on("flaky", () => {
      calls++;
      if (calls < 3) throw new AssuredError("STORE_UNAVAILABLE", "database is down");
      return "finally";
    });
    const c = track(testClient(server.url, { retry: { initialMs: 5, maxMs: 20, factor: 2 } }));
    await c.client.connect();
    await expect(c.client.emit("flaky", null)).resolves.toBe("finally");
    expect(calls).toBe(3);
  });

  it("G8: a reloaded page sends what the previous one left in the outbox and reads the results", async () => {
    server = await new TestServer().start();
    const handled: string[] = [];
    server.assured.on("save", (text: string) => {
      handled.push(text);
      return text.toUpperCase();
    });
    const inner = memoryStorage();
    let onWrite = () => {};
    const storage: ClientStorage = {
      get: (key) => inner.get(key),
      set: async (key, value) => {
        await inner.set(key, value);
        onWrite();
      },
      remove: (key) => inner.remove(key),
    };
    const first = testClient(server.url, { storage });
    // Poke after the outbox has taken the write into account.
    onWrite = () => setImmediate(() => first.waiter.poke());
    await first.client.connect();
    await once(first.socket, "connect");
    first.socket.disconnect();
    const lost = [first.client.emit("save", "a"), first.client.emit("save", "b")];
    await first.waiter.until(() => first.client.pending().length === 2, "two persisted");
    const clientId = first.client.clientId;
    await first.client.close();
    for (const p of lost) await expect(p).rejects.toMatchObject({ code: "CLOSED" });

    const second = track(testClient(server.url, { storage }));
    const results = new Map<string, SettledResult>();
    second.client.onResult((id, result) => {
      results.set(id, result);
      second.waiter.poke();
    });
    await second.client.connect();
    expect(second.client.clientId).toBe(clientId);
    const pending = second.client.pending();
    expect(pending.map((m) => [m.name, m.seq])).toEqual([
      ["save", 1],
      ["save", 2],
    ]);
    await second.waiter.until(() => results.size === 2, "both results");
    expect(handled).toEqual(["a", "b"]);
    expect(await second.client.result(pending[0]!.id)).toEqual({ ok: true, value: "A" });
    expect(second.client.pending()).toEqual([]);
  });
});
