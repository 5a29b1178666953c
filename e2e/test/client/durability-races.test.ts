import { encode, MemoryEventStore } from "@assured/core";
import { type ClientStorage, memoryStorage, Outbox } from "@assured/core/protocol";
import { describe, expect, it } from "vitest";
import { closeAfterEach, eventually, TestServer, testClient } from "./harness.js";

let server: TestServer | undefined;
const track = closeAfterEach(() => server);

async function storedOffset(storage: ClientStorage, stream: string): Promise<number | undefined> {
  const text = await storage.get(`assured:pos:${stream}`);
  return text === null ? undefined : (JSON.parse(text) as { offset: number }).offset;
}

describe("recovery outcomes and resyncs", () => {
  it("resubscribe() in a synchronous recovery listener is not overwritten by the stale outcome's position", async () => {
    server = await new TestServer().start();
    await server.publishMany("room:1", 1, 5);
    const storage = memoryStorage();
    await storage.set("assured:pos:room:1", JSON.stringify({ epoch: "gone", offset: 2 }));
    const c = track(testClient(server.url, { storage }));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    c.client.on<{ n: number }>("tick", async ({ n }) => {
      if (n === 2) await gate;
    });
    let resynced = false;
    c.client.onRecovery((o) => {
      if (!o.recovered && !resynced) {
        resynced = true;
        c.client.resubscribe(o.stream, { from: "earliest" }); // the documented resync
      }
    });
    c.client.subscribe("room:1");
    await c.client.connect();
    await c.ticks("room:1", 2); // 1 handled, 2 running
    await eventually(async () => (await storedOffset(storage, "room:1")) === 1, "offset 1 saved");
    // Only offset 1 was handled since the resync: a reload must resume from 1, not from 5.
    expect(await storedOffset(storage, "room:1")).toBe(1);
    release();
    await eventually(() => c.client.position("room:1")?.offset === 5, "the replay");
  });

  it("an outcome that did not recover replaces the stored position, also at offset 0 of a log with no event yet (the store was lost)", async () => {
    server = await new TestServer().start();
    await server.publishMany("room:1", 1, 2);
    const storage = memoryStorage();
    const c = track(testClient(server.url, { storage }));
    c.client.subscribe("room:1", { from: "earliest" });
    await c.client.connect();
    await c.ticks("room:1", 2);
    await eventually(async () => (await storedOffset(storage, "room:1")) === 2, "offset 2 saved");
    // The store is lost: the stream has no log at all (epoch "") when the client comes back.
    await server.stop();
    await server.start({}, new MemoryEventStore());
    await c.waiter.until(() => c.outcomes.some((o) => !o.recovered), "the epoch outcome");
    await eventually(async () => (await storedOffset(storage, "room:1")) === 0, "the resync");
    await c.client.close();
    // A reload resumes from the start of the new log, recovered, with nothing skipped.
    await server.publishMany("room:1", 10, 1);
    const next = track(testClient(server.url, { storage }));
    next.client.subscribe("room:1", { from: "earliest" });
    await next.client.connect();
    expect(await next.ticks("room:1", 1)).toEqual([10]);
    expect(next.outcomes).toEqual([{ stream: "room:1", recovered: true }]);
  });

  it("a drain loop already running stops while a recovery listener holds the stream", async () => {
    server = await new TestServer().start();
    await server.publishMany("room:1", 1, 2);
    const storage = memoryStorage();
    const c = track(testClient(server.url, { storage }));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let running = false;
    c.client.on<{ n: number }>("tick", async ({ n }) => {
      if (n === 2) {
        running = true;
        c.waiter.poke();
        await gate;
      }
    });
    // The application's resync never finishes: the stream must stay held.
    c.client.onRecovery((o) => (o.recovered ? undefined : new Promise<void>(() => undefined)));
    c.client.subscribe("room:1", { from: "earliest" });
    await c.client.connect();
    await c.waiter.until(() => running, "the handler of 2 running");
    // The log is lost (a new epoch) while the handler runs; the client reconnects.
    await server.stop();
    const fresh = new MemoryEventStore();
    await server.start({}, fresh);
    await server.publishMany("room:1", 10, 2);
    await c.waiter.until(() => c.outcomes.some((o) => !o.recovered), "the epoch outcome");
    let batches = 0;
    c.socket.on("assured:batch", () => {
      batches++;
      c.waiter.poke();
    });
    await server.publishMany("room:1", 20, 2);
    await c.waiter.until(() => batches >= 2, "the new epoch's live events at the client");
    // The handler of 2 finishes: its loop must not go on into the held stream.
    release();
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    // Nothing of the new epoch is handled or saved while the listener runs.
    await c.client.close();
    expect(c.seen.get("room:1")).toEqual([1, 2]);
    const stored = JSON.parse((await storage.get("assured:pos:room:1")) ?? "null");
    expect(stored?.epoch).not.toBe((await fresh.head("room:1")).epoch);
  });
});

describe("closing and unsubscribing in the middle of things", () => {
  it("close() while connect() opens the outbox releases its session: the next client adopts the earlier page's message", async () => {
    server = await new TestServer().start();
    let runs = 0;
    server.assured.on("op", (data) => {
      runs++;
      return data;
    });
    const storage = memoryStorage();
    // An earlier page life left one unanswered message.
    const earlier = await Outbox.open({ storage });
    await earlier.add("op", encode(1), Date.now());
    await earlier.close();
    const first = testClient(server.url, { storage });
    const connecting = first.client.connect();
    await first.client.close(); // e.g. React StrictMode: mount, unmount, mount
    await connecting;
    const second = track(testClient(server.url, { storage }));
    await second.client.connect();
    await eventually(() => runs === 1 && second.client.pending().length === 0, "the message run");
  });

  it("an assured:subscribed that crosses unsubscribe() does not bring the stream back", async () => {
    server = await new TestServer().start();
    const storage = memoryStorage();
    const c = track(testClient(server.url, { storage }));
    let crossed = false;
    // Runs before Assured's own listener: the frame was on the wire when unsubscribe() ran.
    c.socket.on("assured:subscribed", (frame: { stream: string }) => {
      if (frame.stream === "room:9" && !crossed) {
        crossed = true;
        c.client.unsubscribe("room:9");
      }
    });
    await c.client.connect();
    await eventually(() => c.socket.connected, "the connection");
    c.client.subscribe("room:9", { from: "earliest" });
    await eventually(() => crossed, "the crossing");
    await c.client.close();
    expect(c.client.position("room:9")).toBeNull();
    expect(await storage.get("assured:streams")).toBeNull();
  });
});
