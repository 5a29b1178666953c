import { AssuredError, MemoryEventStore } from "@assured/core";
import { FRAMES, type MessageReply } from "@assured/core/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SERVER_METER_NAME } from "../src/index.js";
import { assuredAuth, seed, startAssured } from "./harness.js";
import { otelReader } from "./otel-reader.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
let otel: ReturnType<typeof otelReader> | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  await otel?.shutdown();
  otel = undefined;
});

async function start(options: Parameters<typeof startAssured>[0] = {}) {
  otel = otelReader();
  server = await startAssured({ meter: otel.meter(SERVER_METER_NAME), ...options });
  return { server, otel };
}

describe("server metrics (OpenTelemetry SDK, in-memory exporter)", () => {
  it("publish: latency by outcome, append latency and batch size, in stats() too", async () => {
    const { server, otel } = await start();
    await server.assured.publish("room", "e", 1, { id: "x" });
    await server.assured.publish("room", "e", 2);
    await server.assured.publish("room", "e", 1, { id: "x" }); // duplicate: stored once
    // Published in one turn: one append of 5 (group commit).
    await Promise.all([3, 4, 5, 6, 7].map((n) => server.assured.publish("room", "e", n)));

    const m = await otel.collect();
    expect(m.metric("assured.publish.duration").scope).toBe("@assured/server");
    expect(m.metric("assured.publish.duration").descriptor.unit).toBe("ms");
    expect(m.histogram("assured.publish.duration", { outcome: "ok" }).count).toBe(7);
    expect(m.histogram("assured.publish.duration", { outcome: "duplicate" }).count).toBe(1);
    expect(m.histogram("assured.store.append.duration", { outcome: "ok" }).count).toBe(4);
    const batches = m.histogram("assured.store.append.batch_size");
    expect(batches).toMatchObject({ count: 4, sum: 8, max: 5 });

    const stats = server.assured.stats();
    expect(stats.published).toEqual({ ok: 7, duplicate: 1, error: 0, refused: 0 });
    expect(stats.appendBatchSize).toEqual({ count: 4, sum: 8, max: 5 });
    expect(stats.appendLatencyMs.count).toBe(4);
    expect(stats.publishLatencyMs.count).toBe(8);
  });

  it("a failed append counts as an error publish and a store failure", async () => {
    const store = new MemoryEventStore();
    store.append = () => Promise.reject(new Error("disk gone"));
    const { server, otel } = await start({ store });
    await expect(server.assured.publish("room", "e", 1)).rejects.toMatchObject({
      code: "STORE_UNAVAILABLE",
    });
    const m = await otel.collect();
    expect(m.histogram("assured.publish.duration", { outcome: "error" }).count).toBe(1);
    expect(m.histogram("assured.store.append.duration", { outcome: "error" }).count).toBe(1);
    expect(m.value("assured.failures", { kind: "store", operation: "append" })).toBe(1);
    expect(server.assured.stats().failures.store).toBe(1);
  });

  it("catch-up (first page and fetches): events, bytes; sockets and subscriptions", async () => {
    const store = new MemoryEventStore();
    await seed(store, "room", 30);
    const { server, otel } = await start({ store });
    const peer = await server.connect(
      assuredAuth([{ stream: "room", position: null, from: "earliest" }]),
    );
    // v2: the 30 events travel as the subscribe reply's first page.
    await peer.until(() => peer.offsets("room").length === 30);
    const subscribed = await peer.next<{ epoch: string }>(FRAMES.subscribed);
    const fetched = await peer.request<{ ok: boolean }>(FRAMES.fetch, {
      stream: "room",
      epoch: subscribed.epoch,
      after: 0,
      limit: 7,
    });
    expect(fetched.ok).toBe(true);

    const m = await otel.collect();
    expect(m.value("assured.replay.events")).toBe(30);
    expect(m.value("assured.replay.bytes")).toBeGreaterThan(30);
    expect(m.metric("assured.replay.bytes").descriptor.unit).toBe("By");
    expect(m.value("assured.fetch.events")).toBe(7);
    expect(m.value("assured.fetch.bytes")).toBeGreaterThan(7);
    expect(m.value("assured.sockets")).toBe(1);
    expect(m.value("assured.subscriptions")).toBe(1);

    const stats = server.assured.stats();
    expect(stats).toMatchObject({
      replayedEvents: 30,
      fetchedEvents: 7,
      sockets: 1,
      subscriptions: 1,
    });
    expect(stats.replayedBytes).toBe(m.value("assured.replay.bytes"));

    peer.socket.disconnect();
    await vi.waitFor(() => expect(server.assured.stats().sockets).toBe(0));
    const after = await otel.collect();
    expect(after.value("assured.sockets")).toBe(0);
    expect(after.value("assured.subscriptions")).toBe(0);
  });

  it("a live subscription (nothing to catch up) records no catch-up", async () => {
    const { server, otel } = await start();
    const peer = await server.connect(
      assuredAuth([{ stream: "room", position: null, from: "head" }]),
    );
    await peer.next(FRAMES.subscribed);
    await peer.roundTrip();
    expect(server.assured.stats().replayedEvents).toBe(0);
    const m = await otel.collect();
    expect(m.byName.has("assured.replay.events")).toBe(false);
    expect(m.value("assured.subscriptions")).toBe(1);
  });

  it("messages: claimed, a duplicate answered from the dedup store, a conflict, a handler error", async () => {
    const reported: string[] = [];
    const { server, otel } = await start({ onError: (failure) => reported.push(failure.kind) });
    let runs = 0;
    server.assured.on("add", ({ n }: { n: number }) => {
      runs++;
      return n + 1;
    });
    server.assured.on("boom", () => {
      throw new Error("handler broke");
    });
    const peer = await server.connect(assuredAuth());
    const first = await peer.send("add", { n: 1 }, "m1", 1);
    const again = await peer.send("add", { n: 1 }, "m1", 2);
    expect(first.ok && again.ok).toBe(true);
    expect(runs).toBe(1);
    const conflict = await peer.send("add", { n: 2 }, "m1", 3);
    expect(conflict).toMatchObject({ ok: false, error: { code: "IDEMPOTENCY_CONFLICT" } });
    const failed: MessageReply = await peer.send("boom", {}, "m2", 4);
    expect(failed).toMatchObject({ ok: false, stored: true });

    const m = await otel.collect();
    expect(m.value("assured.dedup.claims", { outcome: "claimed" })).toBe(2);
    expect(m.value("assured.dedup.claims", { outcome: "duplicate" })).toBe(1);
    expect(m.value("assured.dedup.claims", { outcome: "conflict" })).toBe(1);
    expect(m.histogram("assured.handler.duration", { name: "add", outcome: "ok" }).count).toBe(1);
    expect(m.histogram("assured.handler.duration", { name: "boom", outcome: "error" }).count).toBe(
      1,
    );
    expect(m.value("assured.handler.errors", { name: "boom" })).toBe(1);
    expect(m.value("assured.failures", { kind: "handler", operation: "message" })).toBe(1);
    expect(m.value("assured.messages.queued")).toBe(0);
    expect(reported).toEqual(["handler"]);

    const stats = server.assured.stats();
    expect(stats.dedup).toEqual({
      claimed: 2,
      duplicate: 1,
      conflict: 1,
      expired: 0,
      quota: 0,
      failed: 0,
    });
    expect(stats.handlerErrors).toBe(1);
    expect(stats.handlerDurationMs.count).toBe(2);
    expect(stats.queuedMessages).toBe(0);
  });

  it("queued messages: counted while they wait behind a running handler", async () => {
    const { server, otel } = await start();
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started!: () => void;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    server.assured.on("slow", async () => {
      started();
      await blocked;
      return 1;
    });
    server.assured.on("fast", () => 2);
    const peer = await server.connect(assuredAuth());
    const replies = [peer.send("slow", {}, "s1", 1)];
    await running;
    replies.push(peer.send("fast", {}, "f1", 2), peer.send("fast", {}, "f2", 3));
    await vi.waitFor(() => expect(server.assured.stats().queuedMessages).toBe(2));
    expect((await otel.collect()).value("assured.messages.queued")).toBe(2);
    release();
    await Promise.all(replies);
    expect(server.assured.stats().queuedMessages).toBe(0);
    expect((await otel.collect()).value("assured.messages.queued")).toBe(0);
  });

  it("an expired message counts as expired", async () => {
    const { server, otel } = await start({ limits: { dedupTtlMs: 60_000 } });
    server.assured.on("add", () => 1);
    const peer = await server.connect(assuredAuth());
    const reply = await peer.request<MessageReply>(FRAMES.message, {
      id: "old",
      seq: 1,
      name: "add",
      payload: new Uint8Array([0xc0]),
      age: 120_000,
    });
    expect(reply).toMatchObject({ ok: false, error: { code: "EXPIRED" } });
    const m = await otel.collect();
    expect(m.value("assured.dedup.claims", { outcome: "expired" })).toBe(1);
    expect(server.assured.stats().dedup.expired).toBe(1);
  });

  it("close() unregisters the gauges (they stop reading the namespace); stats() still answers", async () => {
    const { server, otel } = await start();
    const peer = await server.connect(assuredAuth());
    expect((await otel.collect()).value("assured.sockets")).toBe(1);
    await server.assured.close();
    peer.socket.disconnect();
    await vi.waitFor(() => expect(server.assured.stats().sockets).toBe(0));
    // Not observed again: the SDK keeps the last value it saw, before close().
    expect((await otel.collect()).value("assured.sockets")).toBe(1);
  });

  it("meter: false records nothing to OpenTelemetry and keeps stats(); a bad meter is refused", async () => {
    otel = otelReader();
    server = await startAssured({ meter: false });
    await server.assured.publish("room", "e", 1);
    expect(server.assured.stats().published.ok).toBe(1);
    await expect(startAssured({ meter: {} as never })).rejects.toThrow(
      /options\.meter must be an OpenTelemetry Meter/,
    );
    await expect(startAssured({ metre: false } as never)).rejects.toBeInstanceOf(AssuredError);
  });
});
