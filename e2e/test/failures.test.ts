import type { EventMeta } from "@assured/client";
import { encode, MemoryDedupStore, MemoryEventStore } from "@assured/core";
import { FRAMES, packRecords } from "@assured/core/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { Changes } from "../src/changes.js";
import { deferred } from "../src/deferred.js";
import { messagesIn } from "../src/message-frames.js";
import { nextEvent } from "../src/next-event.js";
import { RecordingClient, type RecordingClientOptions } from "../src/recording-client.js";
import {
  type RunningSocketServer,
  type SocketServerOptions,
  startSocketServer,
} from "../src/socket-server.js";
import { Outage, OutageDedupStore, OutageEventStore } from "../src/store-outage.js";
import { snapshotStreams } from "../src/store-snapshot.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(options: SocketServerOptions = {}): Promise<RunningSocketServer> {
  const running = await startSocketServer(options);
  cleanups.push(() => running.close());
  return running;
}

function client(url: string, options: RecordingClientOptions = {}): RecordingClient {
  const c = new RecordingClient(url, options);
  cleanups.push(() => c.close());
  return c;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

async function seed(store: MemoryEventStore, stream: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1_000) {
    const size = Math.min(1_000, count - i);
    await store.append(
      stream,
      Array.from({ length: size }, (_, k) => ({ name: "e", payload: encode({ n: i + k + 1 }) })),
    );
  }
}

/** Subscribes `c` to `stream`, connects, and waits for the subscription's outcome. */
async function subscribed(c: RecordingClient, stream: string, from: "earliest" | "head") {
  c.client.subscribe(stream, { from });
  await c.client.connect();
  await c.changes.until(() => c.outcomes.some((o) => o.stream === stream), {
    what: `the subscription to ${stream}`,
  });
}

/** Drops the connection the way a network does, and resolves once the client noticed. */
async function dropConnection(c: RecordingClient): Promise<void> {
  const gone = nextEvent(c.socket, "disconnect");
  c.socket.io.engine.close();
  await gone;
}

describe("failure table without a database", () => {
  it("G5: connection drops mid-replay (twice): the replay resumes from the position, no loss, no duplicate", async () => {
    const store = new MemoryEventStore();
    await seed(store, "big", 5_000);
    const s = await server({ store, limits: { fetchLimit: 100 } });
    const drops = new Map([1_000, 3_000].map((offset) => [offset, deferred()]));
    const c = client(s.url, {
      // The handler stops at offsets 1000 and 3000 until the connection has been dropped,
      // so the drop lands while most of the replay is still unsent.
      beforeRecord: (_data, meta: EventMeta) => drops.get(meta.offset)?.promise,
    });
    c.client.subscribe("big", { from: "earliest" });
    await c.client.connect();
    for (const [offset, dropped] of drops) {
      await c.changes.until(() => c.offsets("big").length === offset - 1);
      await dropConnection(c);
      dropped.resolve();
    }
    await c.reached("big", 5_000, 20_000);
    expect(c.offsets("big")).toEqual(range(1, 5_000));
    expect(c.data("big")).toEqual(range(1, 5_000).map((n) => ({ n })));
    expect(c.connects).toBe(3);
    expect(c.outcomes.map((o) => [o.recovered, o.position.offset])).toEqual([
      [true, 0],
      // The handler of 1000 (3000) had not finished when the connection dropped.
      [true, 999],
      [true, 2_999],
    ]);
  });

  it("G8/G9/G10: connection drops mid-window: messages in flight are resent, each handled once, in order", async () => {
    const s = await server();
    const handled: number[] = [];
    const started = new Changes();
    const gate = deferred();
    let frames = 0;
    s.io.on("connection", (socket) =>
      socket.onAny((event: string, frame: unknown) => {
        frames += messagesIn(event, frame);
        started.notify();
      }),
    );
    s.assured.on("work", async ({ n }: { n: number }) => {
      handled.push(n);
      started.notify();
      if (n === 5) await gate.promise;
      return n * 10;
    });
    const c = client(s.url, { window: 8, retry: { initialMs: 20, maxMs: 200, factor: 2 } });
    await c.client.connect();
    const replies = range(1, 40).map((n) => c.client.emit("work", { n }));
    // Message 5 runs while 6–12 are in flight behind it; then the connection drops.
    await started.until(() => handled.includes(5));
    await started.until(() => frames >= 12, { what: "a full window in flight" });
    await dropConnection(c);
    gate.resolve();
    expect(await Promise.all(replies)).toEqual(range(1, 40).map((n) => n * 10));
    expect(handled).toEqual(range(1, 40));
    expect(frames).toBeGreaterThan(40);
    expect(c.client.pending()).toEqual([]);
  });

  it("G4/G8/G9: store unavailable: publish rejects STORE_UNAVAILABLE and nothing is emitted; client messages stay in the outbox and drain once when it is back", async () => {
    const changes = new Changes();
    const outage = new Outage(changes);
    const store = new OutageEventStore(new MemoryEventStore(), outage);
    const dedupStore = new OutageDedupStore(new MemoryDedupStore(), outage);
    const s = await server({ store, dedupStore });
    const invoked: number[] = [];
    s.assured.on("post", async ({ n }: { n: number }, { id }) => {
      invoked.push(n);
      const { offset } = await s.assured.publish("feed", "e", { n }, { id });
      return offset;
    });
    const c = client(s.url, { changes, retry: { initialMs: 20, maxMs: 200, factor: 2 } });
    await subscribed(c, "feed", "earliest");
    await s.assured.publish("feed", "e", { n: 0 });
    await c.reached("feed", 1);

    outage.down = true;
    await expect(s.assured.publish("feed", "e", { n: -1 })).rejects.toMatchObject({
      code: "STORE_UNAVAILABLE",
    });
    const replies = range(1, 10).map((n) => c.client.emit("post", { n }));
    // Several rounds of attempts fail (the client backs off and retries), none runs.
    await changes.until(() => outage.failures >= 5, { what: "retries against the dead store" });
    expect(c.client.pending().map((m) => m.seq)).toEqual(range(1, 10));
    expect(invoked).toEqual([]);
    const late = client(s.url, { changes });
    late.client.subscribe("feed", { from: "earliest" });
    await late.client.connect();
    const refused = await changes.until(() => late.errors[0]);
    expect(refused.code).toBe("STORE_UNAVAILABLE");

    outage.down = false;
    const results = await Promise.all(replies);
    // G9: each message handled once; its promise resolved with its own event's offset.
    expect([...invoked].sort((a, b) => a - b)).toEqual(range(1, 10));
    await c.reached("feed", 11);
    const { feed } = await snapshotStreams(store, ["feed"]);
    expect(feed!.records.map((r) => r.offset)).toEqual(range(1, 11));
    const offsetOf = new Map(
      c.deliveries.get("feed")!.map((d) => [(d.data as { n: number }).n, d.offset]),
    );
    expect(results).toEqual(range(1, 10).map((n) => offsetOf.get(n)));
    expect(c.client.pending()).toEqual([]);
  });

  it("G2: store unavailable while subscribing: the client subscribes again once the store is back, without a reconnect", async () => {
    const changes = new Changes();
    const outage = new Outage(changes);
    const store = new OutageEventStore(new MemoryEventStore(), outage);
    const s = await server({ store });
    await s.assured.publish("feed", "e", { n: 1 });
    outage.down = true;
    // The periodic position check is far away: only a new subscription delivers in time.
    const c = client(s.url, { changes, positionCheckIntervalMs: 600_000 });
    c.client.subscribe("feed", { from: "earliest" });
    await c.client.connect();
    const refused = await changes.until(() => c.errors[0]);
    expect(refused.code).toBe("STORE_UNAVAILABLE");

    outage.down = false;
    await s.assured.publish("feed", "e", { n: 2 });
    await c.reached("feed", 2, 5_000);
    expect(c.offsets("feed")).toEqual([1, 2]);
    expect(c.connects).toBe(1);
  });

  it("G10: a message refused with a retryable error (store down) is not overtaken by later messages of its window", async () => {
    const outage = new Outage();
    const dedupStore = new OutageDedupStore(new MemoryDedupStore(), outage);
    const s = await server({ dedupStore });
    const invoked: number[] = [];
    s.assured.on("work", ({ n }: { n: number }) => {
      invoked.push(n);
      return n;
    });
    // No jitter: a refused message is resent as soon as its refusal arrives.
    const c = client(s.url, {
      window: 32,
      retry: { initialMs: 1, maxMs: 1, factor: 1 },
      random: () => 0,
    });
    await c.client.connect();
    await c.connected();
    // The dedup store refuses the 10 messages of the window, then the resends of 1, 2 and 3,
    // and is back before the resend of 4 arrives: 4–10 must still wait for 1–3.
    outage.downFor(13);
    const replies = range(1, 10).map((n) => c.client.emit("work", { n }));
    expect(await Promise.all(replies)).toEqual(range(1, 10));
    expect(outage.failures).toBe(13);
    expect(invoked).toEqual(range(1, 10));
  });

  it("G10/G11: messages refused by the socket's rate limit are resent and still handled in send order", async () => {
    // A message costs 3 tokens: a burst of 5 messages, then 50 a second.
    const s = await server({ limits: { burstTokens: 15, tokensPerSecond: 150 } });
    const invoked: number[] = [];
    let frames = 0;
    s.io.on("connection", (socket) =>
      socket.onAny((event: string, frame: unknown) => {
        frames += messagesIn(event, frame);
      }),
    );
    s.assured.on("work", ({ n }: { n: number }) => {
      invoked.push(n);
      return n;
    });
    const c = client(s.url, { window: 32, retry: { initialMs: 20, maxMs: 100, factor: 2 } });
    await c.client.connect();
    const replies = range(1, 60).map((n) => c.client.emit("work", { n }));
    expect(await Promise.all(replies)).toEqual(range(1, 60));
    expect(invoked).toEqual(range(1, 60));
    // The bucket refused many frames: each came back and was handled once, in order.
    expect(frames).toBeGreaterThan(60);
  });

  it("G6: store wiped while a client is away: new epoch, recovered: false with reason epoch, then a resync", async () => {
    const store = new MemoryEventStore();
    const s = await server({ store });
    const c = client(s.url);
    await subscribed(c, "room", "earliest");
    for (let n = 1; n <= 5; n++) await s.assured.publish("room", "e", { n });
    await c.reached("room", 5);
    const oldEpoch = c.client.position("room")!.epoch;

    c.socket.disconnect();
    const { epoch } = await store.reset("room");
    for (let n = 1; n <= 3; n++) await s.assured.publish("room", "e", { n: 100 + n });
    c.socket.connect();
    const outcome = await c.changes.until(() => c.outcomes[1]);
    expect(outcome).toEqual({
      stream: "room",
      recovered: false,
      reason: "epoch",
      position: { epoch, offset: 3, id: expect.any(String) },
    });
    expect(epoch).not.toBe(oldEpoch);

    // G6: the application resyncs from the new log.
    c.client.resubscribe("room", { from: "earliest" });
    await c.changes.until(() => c.deliveries.get("room")!.length === 8);
    await s.assured.publish("room", "e", { n: 104 });
    await c.changes.until(() => c.deliveries.get("room")!.length === 9);
    expect(c.deliveries.get("room")!.map((d) => [d.epoch === epoch, d.offset])).toEqual([
      ...range(1, 5).map((o) => [false, o]),
      ...range(1, 4).map((o) => [true, o]),
    ]);
  });

  it("G6: store wiped while a client is connected: the next live event reports reason epoch", async () => {
    const store = new MemoryEventStore();
    const s = await server({ store });
    const c = client(s.url);
    await subscribed(c, "room", "earliest");
    await s.assured.publish("room", "e", { n: 1 });
    await c.reached("room", 1);
    const { epoch } = await store.reset("room");
    await s.assured.publish("room", "e", { n: 2 });
    const outcome = await c.changes.until(() => c.outcomes[1]);
    expect(outcome).toMatchObject({ stream: "room", recovered: false, reason: "epoch" });
    expect(outcome.position.epoch).toBe(epoch);
    expect(c.offsets("room")).toEqual([1]);
  });

  it("G3/G6: a live batch of a lost log that arrives late does not send the client back to it", async () => {
    const store = new MemoryEventStore();
    const s = await server({ store });
    const c = client(s.url);
    // Counts the fetches the server answered (the ack is the packet's last element).
    let answered = 0;
    s.io.on("connection", (socket) => {
      socket.use((packet, next) => {
        const ack = packet.at(-1);
        if (packet[0] === FRAMES.fetch && typeof ack === "function") {
          packet[packet.length - 1] = (...reply: unknown[]) => {
            ack(...reply);
            answered++;
            c.changes.notify();
          };
        }
        next();
      });
    });
    await subscribed(c, "room", "earliest");
    for (let n = 1; n <= 3; n++) await s.assured.publish("room", "e", { n });
    await c.reached("room", 3);
    const lost = c.client.position("room")!.epoch;
    // The store loses the log; the client learns the new epoch from its next event.
    const { epoch } = await store.reset("room");
    await s.assured.publish("room", "e", { n: 4 });
    await c.changes.until(() => c.deliveries.get("room")!.some((d) => d.epoch === epoch));
    // A batch of the lost log published just before the loss comes late (an adapter's publish
    // queued while its connection was down): events #4 and #5 of the old epoch.
    const late = [4, 5].map((offset) => ({
      offset,
      id: `late-${offset}`,
      name: "e",
      payload: encode({ n: 100 + offset }),
      time: Date.now(),
    }));
    const before = answered;
    s.io.emit(FRAMES.batch, { stream: "room", epoch: lost, records: packRecords(late) });
    // The client checks the batch with a fetch; its reply (the store is in the new epoch) goes
    // out before the next event, so the client has settled the batch when that event arrives.
    await c.changes.until(() => answered > before, { what: "the fetch checking the late batch" });
    await s.assured.publish("room", "e", { n: 5 });
    await c.changes.until(() => c.deliveries.get("room")!.filter((d) => d.epoch === epoch)[1]);
    // The subscription's outcome (before the first event: no epoch yet), then the new epoch's.
    expect(c.outcomes.map((o) => [o.reason ?? "recovered", o.position.epoch])).toEqual([
      ["recovered", ""],
      ["epoch", epoch],
    ]);
    expect(c.deliveries.get("room")!.map((d) => [d.epoch === epoch, d.offset])).toEqual([
      ...range(1, 3).map((o) => [false, o]),
      [true, 1],
      [true, 2],
    ]);
  });

  it("G6: client offline longer than retention: recovered: false with reason trimmed, live events follow", async () => {
    const store = new MemoryEventStore({ retention: { maxLength: 10 } });
    const s = await server({ store });
    const c = client(s.url);
    await subscribed(c, "room", "earliest");
    for (let n = 1; n <= 5; n++) await s.assured.publish("room", "e", { n });
    await c.reached("room", 5);

    c.socket.disconnect();
    for (let n = 6; n <= 35; n++) await s.assured.publish("room", "e", { n });
    c.socket.connect();
    const outcome = await c.changes.until(() => c.outcomes[1]);
    expect(outcome).toMatchObject({ recovered: false, reason: "trimmed" });
    expect(outcome.position.offset).toBe(35);
    await s.assured.publish("room", "e", { n: 36 });
    await c.reached("room", 36);
    expect(c.offsets("room")).toEqual([...range(1, 5), 36]);
  });

  it("G6: client offline beyond the replay limit: recovered: false with reason limit", async () => {
    const s = await server({ limits: { replayLimit: 20 } });
    const c = client(s.url);
    await subscribed(c, "room", "earliest");
    await s.assured.publish("room", "e", { n: 1 });
    await c.reached("room", 1);
    c.socket.disconnect();
    for (let n = 2; n <= 50; n++) await s.assured.publish("room", "e", { n });
    c.socket.connect();
    expect(await c.changes.until(() => c.outcomes[1])).toMatchObject({
      recovered: false,
      reason: "limit",
      position: { offset: 50 },
    });
    expect(c.offsets("room")).toEqual([1]);
  });

  it("G1/G3: a throwing event handler pauses its stream; resume delivers that event again, then the rest in order", async () => {
    const s = await server();
    let failOnce = true;
    const c = client(s.url, {
      beforeRecord: (_data, meta: EventMeta) => {
        if (meta.offset === 3 && failOnce) {
          failOnce = false;
          throw new Error("handler crashed");
        }
      },
    });
    let onWire = 0;
    c.socket.onAny((event: string, frame: { stream?: string; records?: { count: number } }) => {
      if (event === "assured:batch" && frame.stream === "jobs") onWire += frame.records?.count ?? 0;
      c.changes.notify();
    });
    await subscribed(c, "jobs", "earliest");
    for (let n = 1; n <= 6; n++) await s.assured.publish("jobs", "e", { n });
    const failure = await c.changes.until(() => c.errors.find((e) => e.code === "HANDLER_ERROR"));
    expect(failure.details).toMatchObject({ stream: "jobs", offset: 3 });
    // Paused: 4–6 have arrived but are not delivered past the failed 3.
    await c.changes.until(() => onWire >= 6, { what: "offsets 1–6 on the wire" });
    expect(c.offsets("jobs")).toEqual([1, 2]);
    expect(c.client.position("jobs")?.offset).toBe(2);

    c.client.resume("jobs");
    await c.reached("jobs", 6);
    expect(c.offsets("jobs")).toEqual(range(1, 6));
    expect(c.errors).toHaveLength(1);
  });

  it("G3/G4: duplicate publish with the same id: one event, the same offset, delivered once", async () => {
    const store = new MemoryEventStore();
    const s = await server({ store });
    const c = client(s.url);
    await subscribed(c, "orders", "earliest");
    const first = await s.assured.publish("orders", "e", { order: 1 }, { id: "order-1" });
    // Twice more in one tick (one group commit), and once after.
    const same = await Promise.all([
      s.assured.publish("orders", "e", { order: 1 }, { id: "order-1" }),
      s.assured.publish("orders", "e", { order: 2 }, { id: "order-2" }),
      s.assured.publish("orders", "e", { order: 2 }, { id: "order-2" }),
    ]);
    const later = await s.assured.publish("orders", "e", { order: 1 }, { id: "order-1" });
    expect(first).toMatchObject({ offset: 1, duplicate: false });
    expect(same.map((r) => [r.offset, r.duplicate])).toEqual([
      [1, true],
      [2, false],
      [2, true],
    ]);
    expect(later).toMatchObject({ offset: 1, duplicate: true, epoch: first.epoch });
    await s.assured.publish("orders", "e", { order: 3 });
    await c.reached("orders", 3);
    expect(c.data("orders")).toEqual([{ order: 1 }, { order: 2 }, { order: 3 }]);
    const { orders } = await snapshotStreams(store, ["orders"]);
    expect(orders!.records.map((r) => r.id)).toEqual([
      "order-1",
      "order-2",
      orders!.records[2]!.id,
    ]);
  });
});
