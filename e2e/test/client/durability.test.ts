import { type ClientStorage, memoryStorage } from "@assured/core/protocol";
import { describe, expect, it } from "vitest";
import { closeAfterEach, once, range, TestServer, testClient } from "./harness.js";

const INBOX = "inbox:ada";
let server: TestServer | undefined;
const track = closeAfterEach(() => server);

/** A server that subscribes every socket to the inbox (the documented inbox pattern). */
async function inboxServer(): Promise<TestServer> {
  const s = await new TestServer().start();
  s.io.on("connection", (socket) => {
    s.assured.subscribe(socket, INBOX).catch(() => undefined);
  });
  return s;
}

describe("client durability across reloads", () => {
  it("a server-subscribed stream resumes from its stored position after a reload: every event once, in order, recovered", async () => {
    server = await inboxServer();
    const storage = memoryStorage();
    const first = track(testClient(server.url, { storage }));
    await first.client.connect();
    await first.waiter.until(() => first.outcomes.length === 1, "the inbox subscription");
    await server.publishMany(INBOX, 1, 3);
    await first.ticks(INBOX, 3);
    await first.client.close();
    // The page is closed while events are published.
    await server.publishMany(INBOX, 4, 5);
    const second = track(testClient(server.url, { storage }));
    await second.client.connect();
    expect(await second.ticks(INBOX, 5)).toEqual(range(4, 8));
    await server.publishMany(INBOX, 9, 2);
    expect(await second.ticks(INBOX, 7)).toEqual(range(4, 10));
    expect(second.outcomes).toEqual([{ stream: INBOX, recovered: true }]);
  });

  it("a stream the server unsubscribes is forgotten: not tracked, no stored position, not resumed after a reload", async () => {
    server = await inboxServer();
    const storage = memoryStorage();
    const first = track(testClient(server.url, { storage }));
    await first.client.connect();
    await first.waiter.until(() => first.outcomes.length === 1, "the inbox subscription");
    await server.publishMany(INBOX, 1, 2);
    await first.ticks(INBOX, 2);
    const [socket] = await server.io.fetchSockets();
    const ended = once(first.socket, "assured:unsubscribed");
    server.assured.unsubscribe(
      socket as unknown as Parameters<typeof server.assured.unsubscribe>[0],
      INBOX,
    );
    await ended;
    expect(first.client.position(INBOX)).toBeNull();
    await first.client.close();
    expect(await storage.get(`assured:pos:${INBOX}`)).toBeNull();
    expect(JSON.parse((await storage.get("assured:streams")) ?? "[]")).toEqual([]);
  });
});

describe("no silent consumption", () => {
  it("events published before their handler is registered wait for it: every event delivered, in order", async () => {
    server = await new TestServer().start();
    const c = track(testClient(server.url));
    c.client.subscribe("room:1", { from: "earliest" });
    await c.client.connect();
    await server.publishMany("room:1", 1, 2, "late");
    await server.publishMany("room:1", 3, 2);
    await c.waiter.until(
      () => c.errors.some((e) => (e as { code?: string }).code === "NO_HANDLER"),
      "a NO_HANDLER report",
    );
    expect(c.seen.get("room:1") ?? []).toEqual([]);
    expect(c.client.position("room:1")?.offset ?? 0).toBe(0);
    const late: number[] = [];
    c.client.on<{ n: number }>("late", ({ n }) => {
      late.push(n);
      c.waiter.poke();
    });
    expect(await c.ticks("room:1", 2)).toEqual([3, 4]);
    expect(late).toEqual([1, 2]);
  });

  it("skipEvents lets the named events pass without a handler; other names still wait", async () => {
    server = await new TestServer().start();
    const c = track(testClient(server.url, { skipEvents: ["typing"] }));
    c.client.subscribe("room:1", { from: "earliest" });
    await c.client.connect();
    await server.publishMany("room:1", 1, 2, "typing");
    await server.publishMany("room:1", 3, 2);
    expect(await c.ticks("room:1", 2)).toEqual([3, 4]);
    expect(c.errors).toEqual([]);
  });

  it("an event that cannot be decoded holds its stream and is reported, like a throwing handler", async () => {
    server = await new TestServer().start();
    await server.publishMany("room:1", 1, 1);
    await server.store.append("room:1", [{ name: "tick", payload: new Uint8Array([0xc1]) }]);
    await server.publishMany("room:1", 3, 1);
    const c = track(testClient(server.url));
    c.client.subscribe("room:1", { from: "earliest" });
    await c.client.connect();
    await c.waiter.until(
      () => c.errors.some((e) => (e as { code?: string }).code === "CODEC_ERROR"),
      "a CODEC_ERROR report",
    );
    expect(c.seen.get("room:1")).toEqual([1]);
    expect(c.client.position("room:1")?.offset).toBe(1);
  });
});

describe("a recovery outcome is saved only after the application's listeners ran", () => {
  it("a reload during the application's resync reports the outcome again", async () => {
    server = await new TestServer().start();
    await server.publishMany("room:1", 1, 3);
    const storage = memoryStorage();
    await storage.set(
      "assured:pos:room:1",
      JSON.stringify({ epoch: "an-epoch-the-server-never-had", offset: 2 }),
    );
    const first = track(testClient(server.url, { storage }));
    // The application's resync never finishes in this page life.
    first.client.onRecovery(() => new Promise<void>(() => undefined));
    first.client.subscribe("room:1", { from: "earliest" });
    await first.client.connect();
    await first.waiter.until(() => first.outcomes.length === 1, "the first outcome");
    expect(first.outcomes[0]?.recovered).toBe(false);
    await first.client.close();
    const second = track(testClient(server.url, { storage }));
    second.client.subscribe("room:1", { from: "earliest" });
    await second.client.connect();
    await second.waiter.until(() => second.outcomes.length === 1, "the second outcome");
    expect(second.outcomes[0]?.recovered).toBe(false);
    // Once the listeners are done the outcome is saved and delivery goes on.
    await server.publishMany("room:1", 4, 2);
    expect(await second.ticks("room:1", 2)).toEqual([4, 5]);
    await second.client.close();
    expect(JSON.parse((await storage.get("assured:pos:room:1")) ?? "{}").offset).toBe(5);
  });
});

describe("send order is wire order (G10)", () => {
  it("a message emitted while the ping deadline has passed is not written before the resend of earlier ones", async () => {
    server = await new TestServer().start({}, undefined, { pingInterval: 100, pingTimeout: 100 });
    const order: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    server.assured.on("op", async (data) => {
      const { n } = data as { n: number };
      if (!order.includes(n)) order.push(n);
      if (n === 1) await gate;
      return n;
    });
    const storage: ClientStorage = memoryStorage();
    const c = track(
      testClient(server.url, { storage, retry: { initialMs: 10, maxMs: 50, factor: 2 } }),
    );
    await c.client.connect();
    const poll = setInterval(() => c.waiter.poke(), 5);
    try {
      const answers = range(1, 3).map((n) => c.client.emit("op", { n }));
      await c.waiter.until(() => order.length === 1 || undefined, "message 1 running");
      // A busy main thread: no timer runs while the engine's ping deadline passes.
      const until = Date.now() + 450;
      while (Date.now() < until) {
        /* busy */
      }
      answers.push(c.client.emit("op", { n: 4 }));
      await c.waiter.until(() => !c.socket.connected || undefined, "the connection to drop");
      await c.waiter.until(() => c.socket.connected || undefined, "the reconnection");
      release();
      expect(await Promise.all(answers)).toEqual([1, 2, 3, 4]);
    } finally {
      release();
      clearInterval(poll);
    }
    expect(order).toEqual([1, 2, 3, 4]);
  });
});
