import { decode, isAssuredError } from "@assured/core";
import { type BatchFrame, FRAMES } from "@assured/core/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { FaultyStore } from "./faulty-store.js";
import { assuredAuth, range, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  if (server?.store instanceof FaultyStore) server.store.release();
  await server?.close();
  server = undefined;
});

const live = (stream: string) => assuredAuth([{ stream, position: null, from: "head" }]);

describe("publish", () => {
  it("G4: an event is in the store before any subscriber sees it", async () => {
    const store = new FaultyStore();
    server = await startAssured({ store });
    const peer = await server.connect(live("room"));
    await peer.next(FRAMES.subscribed);
    store.hold();
    const published = server.assured.publish("room", "msg", { text: "hi" });
    await store.waitForHeld(1);
    await peer.roundTrip();
    expect(peer.records("room")).toEqual([]);
    store.release();
    const result = await published;
    expect(result).toMatchObject({ offset: 1, duplicate: false });
    const [record] = await peer.until(
      () => peer.records("room").length === 1 && peer.records("room"),
    );
    const stored = await store.read("room", { after: 0, limit: 10 });
    expect(stored.records.map((r) => r.id)).toEqual([record!.id]);
    expect(decode(record!.payload)).toEqual({ text: "hi" });
  });

  it("G4: a failing store rejects publish with STORE_UNAVAILABLE and emits nothing", async () => {
    const store = new FaultyStore();
    server = await startAssured({ store });
    const peer = await server.connect(live("room"));
    await peer.next(FRAMES.subscribed);
    store.down = true;
    await expect(server.assured.publish("room", "msg", 1)).rejects.toSatisfy((e) =>
      isAssuredError(e, "STORE_UNAVAILABLE"),
    );
    store.down = false;
    await peer.roundTrip();
    expect(peer.records("room")).toEqual([]);
    expect((await store.head("room")).head).toBe(0);
  });

  it("group-commits publishes of one tick into one append and one batch, in offset order", async () => {
    const store = new FaultyStore();
    server = await startAssured({ store });
    const peer = await server.connect(live("room"));
    await peer.next(FRAMES.subscribed);
    const results = await Promise.all(
      range(1, 50).map((n) => server!.assured.publish("room", "msg", n)),
    );
    expect(results.map((r) => r.offset)).toEqual(range(1, 50));
    expect(store.appendCalls).toEqual([50]);
    const batches = await peer.until(
      () => peer.records("room").length === 50 && peer.frames(FRAMES.batch),
    );
    expect(batches).toHaveLength(1);
    expect(peer.offsets("room")).toEqual(range(1, 50));
    expect(peer.data("room")).toEqual(range(1, 50));
  });

  it("coalesces one publish per turn into a few appends and batches, still in offset order", async () => {
    const store = new FaultyStore();
    server = await startAssured({ store });
    const peer = await server.connect(live("room"));
    await peer.next(FRAMES.subscribed);
    const published: Promise<{ offset: number }>[] = [];
    for (const n of range(1, 64)) {
      published.push(server.assured.publish("room", "msg", n));
      await new Promise((resolve) => setImmediate(resolve)); // one publish per turn
    }
    const results = await Promise.all(published);
    expect(results.map((r) => r.offset)).toEqual(range(1, 64));
    // Adaptive group commit: groups of about PUBLISH_MAX_TURNS turns, not one append per turn.
    expect(store.appendCalls.length).toBeLessThanOrEqual(8);
    expect(store.appendCalls.reduce((a, b) => a + b, 0)).toBe(64);
    const batches = await peer.until(
      () => peer.records("room").length === 64 && peer.frames(FRAMES.batch),
    );
    expect(batches.length).toBe(store.appendCalls.length);
    expect(peer.offsets("room")).toEqual(range(1, 64));
    expect(peer.data("room")).toEqual(range(1, 64));
  });

  it("a lone publish goes out after one idle turn, with its own append", async () => {
    const store = new FaultyStore();
    server = await startAssured({ store });
    const peer = await server.connect(live("room"));
    await peer.next(FRAMES.subscribed);
    await server.assured.publish("room", "msg", 1);
    await peer.until(() => peer.offsets("room").length === 1);
    await server.assured.publish("room", "msg", 2);
    await peer.until(() => peer.offsets("room").length === 2);
    expect(store.appendCalls).toEqual([1, 1]);
  });

  it("G11: a large group is emitted in batches of at most maxBatchBytes", async () => {
    server = await startAssured({ limits: { maxBatchBytes: 250 } });
    const peer = await server.connect(live("room"));
    await peer.next(FRAMES.subscribed);
    const text = "x".repeat(95);
    await Promise.all(range(1, 5).map(() => server!.assured.publish("room", "msg", text)));
    await peer.until(() => peer.offsets("room").length === 5);
    const sizes = peer.frames<BatchFrame>(FRAMES.batch).map((b) => b.records.count);
    expect(sizes).toEqual([2, 2, 1]);
    expect(peer.offsets("room")).toEqual(range(1, 5));
  });

  it("appends the next group only after the previous one, so each node emits in offset order", async () => {
    const store = new FaultyStore();
    server = await startAssured({ store });
    const peer = await server.connect(live("room"));
    await peer.next(FRAMES.subscribed);
    store.hold();
    const first = server.assured.publish("room", "msg", 1);
    await store.waitForHeld(1);
    const later = [2, 3, 4].map((n) => server!.assured.publish("room", "msg", n));
    await peer.roundTrip();
    expect(store.heldAppends).toBe(1);
    store.release();
    await Promise.all([first, ...later]);
    expect(store.appendCalls).toEqual([1, 3]);
    await peer.until(() => peer.offsets("room").length === 4);
    expect(peer.offsets("room")).toEqual([1, 2, 3, 4]);
  });

  it("the same id twice publishes once: same offset, duplicate: true, no second emit", async () => {
    server = await startAssured();
    const peer = await server.connect(live("room"));
    await peer.next(FRAMES.subscribed);
    const first = await server.assured.publish("room", "msg", "a", { id: "order-1" });
    const again = await server.assured.publish("room", "msg", "a", { id: "order-1" });
    const third = await server.assured.publish("room", "msg", "b");
    expect(first).toMatchObject({ offset: 1, id: "order-1", duplicate: false });
    expect(again).toMatchObject({ offset: 1, id: "order-1", duplicate: true });
    await peer.until(() => peer.offsets("room").length === 2);
    expect(peer.offsets("room")).toEqual([1, third.offset]);
  });

  it("the same id twice in one group commit is stored and emitted once", async () => {
    const store = new FaultyStore();
    server = await startAssured({ store });
    const peer = await server.connect(live("room"));
    await peer.next(FRAMES.subscribed);
    const [a, b, c] = await Promise.all([
      server.assured.publish("room", "msg", "a", { id: "x" }),
      server.assured.publish("room", "msg", "a", { id: "x" }),
      server.assured.publish("room", "msg", "c"),
    ]);
    expect(store.appendCalls).toEqual([3]);
    expect([a!.duplicate, b!.duplicate, c!.duplicate]).toEqual([false, true, false]);
    expect(b!.offset).toBe(a!.offset);
    await peer.until(() => peer.offsets("room").length === 2);
    await peer.roundTrip();
    expect(peer.offsets("room")).toEqual([1, 2]);
    expect(peer.data("room")).toEqual(["a", "c"]);
  });

  it("validates its arguments with typed errors and stores nothing", async () => {
    server = await startAssured({ limits: { maxPayloadBytes: 100 } });
    const { assured, store } = server;
    const code = (p: Promise<unknown>) =>
      p.then(
        () => "resolved",
        (e) => e.code,
      );
    expect(await code(assured.publish("", "msg", 1))).toBe("INVALID_STREAM");
    expect(await code(assured.publish("room", "", 1))).toBe("INVALID_ARGUMENT");
    expect(await code(assured.publish("room", "msg", 1, { id: "" }))).toBe("INVALID_ARGUMENT");
    expect(await code(assured.publish("room", "msg", "x".repeat(200)))).toBe("PAYLOAD_TOO_LARGE");
    expect(await code(assured.publish("room", "msg", 10n))).toBe("CODEC_ERROR");
    expect((await store.head("room")).head).toBe(0);
  });

  it("bounds events waiting for the store: beyond maxPendingPublishes is LIMIT_EXCEEDED", async () => {
    const store = new FaultyStore();
    server = await startAssured({ store, limits: { maxPendingPublishes: 3 } });
    store.hold();
    const accepted = [1, 2, 3].map((n) => server!.assured.publish("room", "msg", n));
    await expect(server.assured.publish("room", "msg", 4)).rejects.toSatisfy((e) =>
      isAssuredError(e, "LIMIT_EXCEEDED"),
    );
    store.release();
    expect((await Promise.all(accepted)).map((r) => r.offset)).toEqual([1, 2, 3]);
  });

  it("works on a namespace and rejects publish after close with CLOSED", async () => {
    server = await startAssured({ namespace: "/chat" });
    const peer = await server.connect(live("room"));
    await peer.next(FRAMES.subscribed);
    await server.assured.publish("room", "msg", 1);
    await peer.until(() => peer.offsets("room").length === 1);
    await server.assured.close();
    await expect(server.assured.publish("room", "msg", 2)).rejects.toSatisfy((e) =>
      isAssuredError(e, "CLOSED"),
    );
  });
});
