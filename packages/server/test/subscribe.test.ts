import { encode, MemoryEventStore } from "@assured/core";
import {
  FRAMES,
  type SubscribedFrame,
  type SubscribeErrorFrame,
  type WirePage,
} from "@assured/core/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { SubscriptionOutcome } from "../src/index.js";
import { FaultyStore } from "./faulty-store.js";
import { assuredAuth, range, seed, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const sub = (
  stream: string,
  position: { epoch: string; offset: number } | null,
  from = "head",
) => ({
  stream,
  position,
  from,
});

describe("G6: every row of the outcome table", () => {
  // head 30 in every case; replayLimit 20 unless the case says otherwise.
  const rows: {
    name: string;
    retention?: number;
    position: (epoch: string) => { epoch: string; offset: number } | null;
    from?: string;
    replayLimit?: number;
    expected: Partial<SubscribedFrame>;
    replayed: number[];
  }[] = [
    {
      name: "null position, from head → recovered at the head, nothing replayed",
      position: () => null,
      from: "head",
      expected: { recovered: true, start: 30 },
      replayed: [],
    },
    {
      name: "null position, from earliest, retained ≤ replayLimit → recovered, full replay",
      position: () => null,
      from: "earliest",
      replayLimit: 30,
      expected: { recovered: true, start: 0 },
      replayed: range(1, 30),
    },
    {
      name: "null position, from earliest, retained ≤ replayLimit after trimming → from earliest - 1",
      retention: 10,
      position: () => null,
      from: "earliest",
      expected: { recovered: true, start: 20 },
      replayed: range(21, 30),
    },
    {
      name: "null position, from earliest, more than replayLimit retained → limit",
      position: () => null,
      from: "earliest",
      expected: { recovered: false, reason: "limit", start: 30 },
      replayed: [],
    },
    {
      name: "offset 0 of any epoch, earliest 1, head ≤ replayLimit → recovered from 0",
      position: () => ({ epoch: "some-old-epoch", offset: 0 }),
      replayLimit: 30,
      expected: { recovered: true, start: 0 },
      replayed: range(1, 30),
    },
    {
      name: "another epoch with offset > 0 → epoch",
      position: () => ({ epoch: "foreign-epoch", offset: 5 }),
      expected: { recovered: false, reason: "epoch", start: 30 },
      replayed: [],
    },
    {
      name: "offset beyond the head → epoch",
      position: (epoch) => ({ epoch, offset: 31 }),
      expected: { recovered: false, reason: "epoch", start: 30 },
      replayed: [],
    },
    {
      name: "offset older than retention → trimmed",
      retention: 10,
      position: (epoch) => ({ epoch, offset: 15 }),
      expected: { recovered: false, reason: "trimmed", start: 30 },
      replayed: [],
    },
    {
      name: "offset 0 after trimming → trimmed",
      retention: 10,
      position: (epoch) => ({ epoch, offset: 0 }),
      expected: { recovered: false, reason: "trimmed", start: 30 },
      replayed: [],
    },
    {
      name: "more than replayLimit behind → limit",
      position: (epoch) => ({ epoch, offset: 5 }),
      expected: { recovered: false, reason: "limit", start: 30 },
      replayed: [],
    },
    {
      name: "otherwise → recovered, replay (offset, head]",
      position: (epoch) => ({ epoch, offset: 12 }),
      expected: { recovered: true, start: 12 },
      replayed: range(13, 30),
    },
    {
      name: "at the head → recovered, nothing to replay",
      position: (epoch) => ({ epoch, offset: 30 }),
      expected: { recovered: true, start: 30 },
      replayed: [],
    },
  ];

  for (const row of rows) {
    it(`G6: ${row.name}`, async () => {
      const store = new MemoryEventStore(
        row.retention === undefined ? {} : { retention: { maxLength: row.retention } },
      );
      await seed(store, "s", 30);
      const { epoch } = await store.head("s");
      server = await startAssured({
        store,
        limits: { replayLimit: row.replayLimit ?? 20, fetchLimit: 7 },
      });
      const peer = await server.connect(assuredAuth([sub("s", row.position(epoch), row.from)]));
      const outcome = await peer.next<SubscribedFrame>(FRAMES.subscribed);
      expect(outcome).toMatchObject({ stream: "s", epoch, head: 30, ...row.expected });
      if (row.expected.recovered) expect(outcome.reason).toBeUndefined();
      // v2: the first page (at most fetchLimit records) travels with the outcome…
      expect(peer.offsets("s")).toEqual(row.replayed.slice(0, 7));
      // …and the client pulls the rest.
      await peer.catchUp("s");
      expect(peer.offsets("s")).toEqual(row.replayed);
    });
  }

  it('G6: a stream without a log recovers from ("", 0) and reports epoch ""', async () => {
    server = await startAssured();
    const peer = await server.connect(assuredAuth([sub("empty", { epoch: "", offset: 0 })]));
    expect(await peer.next<SubscribedFrame>(FRAMES.subscribed)).toMatchObject({
      epoch: "",
      recovered: true,
      start: 0,
      head: 0,
    });
  });
});

describe("G5: subscription and replay", () => {
  it("G5: first page, fetches, then live with no seam (live events racing the catch-up are all there)", async () => {
    const store = new MemoryEventStore();
    await seed(store, "s", 100);
    const { epoch } = await store.head("s");
    server = await startAssured({ store, limits: { fetchLimit: 10 } });
    const { assured } = server;
    const peer = server.peer(assuredAuth([sub("s", { epoch, offset: 40 })]));
    const connected = peer.connect();
    const live = Promise.all(range(1, 20).map((n) => assured.publish("s", "live", n)));
    await connected;
    await live;
    await assured.publish("s", "live", 21);
    const outcome = await peer.next<SubscribedFrame>(FRAMES.subscribed);
    expect(outcome.recovered).toBe(true);
    await peer.catchUp("s", 121);
    const received = peer.offsets("s");
    expect([...new Set(received)].sort((a, b) => a - b)).toEqual(range(41, 121));
  });

  it("G5: the first page travels with the outcome; the server pushes nothing more until fetched", async () => {
    const store = new MemoryEventStore();
    await seed(store, "s", 95);
    server = await startAssured({ store, limits: { fetchLimit: 40 } });
    const peer = await server.connect(assuredAuth([sub("s", null, "earliest")]));
    const outcome = await peer.next<SubscribedFrame>(FRAMES.subscribed);
    expect(outcome).toMatchObject({ recovered: true, start: 0, head: 95 });
    expect(outcome.records.count).toBe(40);
    await peer.roundTrip();
    // No server-pushed replay (DESIGN §8): no batch frames at all.
    expect(peer.frames(FRAMES.batch)).toEqual([]);
    await peer.catchUp("s");
    expect(peer.data("s")).toEqual(range(1, 95));
    expect(peer.frames(FRAMES.batch)).toEqual([]);
  });

  it("G11: the first page and fetch replies are cut so none carries more than maxBatchBytes", async () => {
    const store = new MemoryEventStore();
    const payload = encode("x".repeat(95)); // 97 bytes
    await store.append(
      "s",
      range(1, 9).map(() => ({ name: "e", payload })),
    );
    server = await startAssured({ store, limits: { maxBatchBytes: 250, fetchLimit: 5 } });
    const peer = await server.connect(assuredAuth([sub("s", null, "earliest")]));
    const outcome = await peer.next<SubscribedFrame>(FRAMES.subscribed);
    expect(outcome.records.count).toBe(2);
    await peer.catchUp("s");
    expect(peer.offsets("s")).toEqual(range(1, 9));
    const sizes = peer.received
      .filter((r) => r.event === FRAMES.subscribed || r.event === "test:fetched")
      .map((r) => (r.args[0] as { records: WirePage }).records.count);
    expect(sizes).toEqual([2, 2, 2, 2, 1]);
  });

  it("G6: a fetch after the log was trimmed past the position answers an earliest above it (the client's trimmed outcome)", async () => {
    const store = new MemoryEventStore({ retention: { maxLength: 10 } });
    await seed(store, "s", 10);
    server = await startAssured({ store, limits: { fetchLimit: 2 } });
    const peer = await server.connect(assuredAuth([sub("s", null, "earliest")]));
    const outcome = await peer.next<SubscribedFrame>(FRAMES.subscribed);
    expect(peer.offsets("s")).toEqual([1, 2]);
    await seed(store, "s", 20);
    const reply = await peer.request<{ ok: true; earliest: number; head: number }>(FRAMES.fetch, {
      stream: "s",
      epoch: outcome.epoch,
      after: 2,
      limit: 2,
    });
    expect(reply).toMatchObject({ ok: true, earliest: 21, head: 30 });
  });

  it("G5: assured:sub frames subscribe with a position and unsub stops live events", async () => {
    const store = new MemoryEventStore();
    await seed(store, "s", 5);
    const { epoch } = await store.head("s");
    server = await startAssured({ store });
    const peer = await server.connect(assuredAuth());
    peer.socket.emit(FRAMES.subscribe, sub("s", { epoch, offset: 3 }));
    expect(await peer.next<SubscribedFrame>(FRAMES.subscribed)).toMatchObject({
      recovered: true,
      start: 3,
    });
    await peer.until(() => peer.offsets("s").length === 2);
    await server.assured.publish("s", "e", 6);
    await peer.until(() => peer.offsets("s").length === 3);
    peer.socket.emit(FRAMES.unsubscribe, { stream: "s" });
    await peer.roundTrip();
    await server.assured.publish("s", "e", 7);
    await peer.roundTrip();
    expect(peer.offsets("s")).toEqual([4, 5, 6]);
  });

  it("server-initiated subscribe uses the handshake position and is not evaluated twice", async () => {
    const store = new MemoryEventStore();
    await seed(store, "inbox", 8);
    const { epoch } = await store.head("inbox");
    server = await startAssured({ store });
    const { assured, io } = server;
    const outcomes: Promise<SubscriptionOutcome>[] = [];
    io.on("connection", (socket) => outcomes.push(assured.subscribe(socket, "inbox")));
    const resumed = await server.connect(assuredAuth([sub("inbox", { epoch, offset: 6 })]));
    const fresh = await server.connect(assuredAuth());
    await resumed.until(() => resumed.offsets("inbox").length === 2);
    await fresh.next(FRAMES.subscribed);
    const [first, second] = await Promise.all(outcomes);
    expect(first).toMatchObject({ recovered: true, start: 6 });
    expect(second).toMatchObject({ recovered: true, start: 8 });
    // The outcome the subscription keeps for its life holds no page (the frame carried it):
    // a page of records per subscription stayed in memory before.
    expect(first).not.toHaveProperty("records");
    expect(first).not.toHaveProperty("payloads");
    expect(Object.keys(first!).sort()).toEqual([
      "epoch",
      "head",
      "recovered",
      "start",
      "startId",
      "stream",
    ]);
    await resumed.roundTrip();
    expect(resumed.frames(FRAMES.subscribed)).toHaveLength(1);
    expect(resumed.offsets("inbox")).toEqual([7, 8]);
  });
});

describe("G5/G12: authorization", () => {
  it("G12: an unauthorized subscription gets UNAUTHORIZED and no events", async () => {
    server = await startAssured({ authorize: (_socket, stream) => stream !== "secret" });
    const peer = await server.connect(assuredAuth([sub("secret", null), sub("open", null)]));
    const refused = await peer.next<SubscribeErrorFrame>(FRAMES.subscribeError);
    expect(refused).toMatchObject({ stream: "secret", error: { code: "UNAUTHORIZED" } });
    await peer.next(FRAMES.subscribed);
    await server.assured.publish("secret", "e", 1);
    await server.assured.publish("open", "e", 1);
    await peer.until(() => peer.offsets("open").length === 1);
    await peer.roundTrip();
    expect(peer.offsets("secret")).toEqual([]);
    expect(peer.frames<SubscribedFrame>(FRAMES.subscribed).map((f) => f.stream)).toEqual(["open"]);
  });

  it("G12: a throwing or async-rejecting authorize hook refuses, and the server keeps serving", async () => {
    server = await startAssured({
      authorize: async (_socket, stream) => {
        if (stream === "throws") throw new Error("auth service down");
        return true;
      },
    });
    const peer = await server.connect(assuredAuth([sub("throws", null)]));
    expect(await peer.next<SubscribeErrorFrame>(FRAMES.subscribeError)).toMatchObject({
      error: { code: "UNAUTHORIZED" },
    });
    const other = await server.connect(assuredAuth([sub("fine", null)]));
    expect(await other.next<SubscribedFrame>(FRAMES.subscribed)).toMatchObject({ stream: "fine" });
  });

  it("G5: authorize runs at every (re)connect, with the handshake's subscriptions", async () => {
    const seen: string[] = [];
    let allow = true;
    server = await startAssured({
      authorize: (_socket, stream, action) => {
        seen.push(`${action}:${stream}`);
        return allow;
      },
    });
    const auth = assuredAuth([sub("s", null)]);
    const first = await server.connect(auth);
    await first.next(FRAMES.subscribed);
    first.socket.disconnect();
    allow = false;
    const second = await server.connect(auth);
    expect(await second.next<SubscribeErrorFrame>(FRAMES.subscribeError)).toMatchObject({
      error: { code: "UNAUTHORIZED" },
    });
    expect(seen).toEqual(["subscribe:s", "subscribe:s"]);
  });

  it("G5: a socket restored by connection state recovery is authorized again", async () => {
    let allow = true;
    server = await startAssured({
      serverOptions: { connectionStateRecovery: {} },
      authorize: () => allow,
    });
    const peer = server.peer(assuredAuth([sub("s", null)]), {
      reconnection: true,
      reconnectionDelay: 1,
    });
    await peer.connect();
    await peer.next(FRAMES.subscribed);
    // Subscribed by a frame only: not in the handshake the client sends when reconnecting.
    peer.socket.emit(FRAMES.subscribe, sub("t", null));
    await peer.next(FRAMES.subscribed, (f) => f.stream === "t");
    // A broadcast gives the client the offset Socket.IO needs to recover the session.
    await server.assured.publish("s", "e", 1);
    await peer.until(() => peer.offsets("s").length === 1);
    allow = false;
    const reconnected = new Promise<void>((resolve) => peer.socket.once("connect", resolve));
    peer.socket.io.engine.close();
    await reconnected;
    expect(peer.socket.recovered).toBe(true);
    expect(await peer.next<SubscribeErrorFrame>(FRAMES.subscribeError)).toMatchObject({
      stream: "s",
      error: { code: "UNAUTHORIZED" },
    });
    await server.assured.publish("s", "e", 2);
    await server.assured.publish("t", "e", 1);
    await peer.roundTrip();
    expect(peer.offsets("s")).toEqual([1]);
    expect(peer.offsets("t")).toEqual([]);
  });

  it("G12: events published while a revoked client was away are not replayed to it by connection state recovery", async () => {
    let allow = true;
    server = await startAssured({
      serverOptions: { connectionStateRecovery: {} },
      authorize: () => allow,
    });
    const peer = server.peer(assuredAuth([sub("s", null)]));
    await peer.connect();
    await peer.next(FRAMES.subscribed);
    await server.assured.publish("s", "e", { secret: 1 });
    await peer.until(() => peer.offsets("s").length === 1);
    const disconnected = new Promise<void>((resolve) =>
      peer.socket.once("disconnect", () => resolve()),
    );
    peer.socket.io.engine.close();
    await disconnected;
    allow = false;
    await server.assured.publish("s", "e", { secret: 2 });
    await peer.connect();
    expect(peer.socket.recovered).toBe(true);
    await peer.next<SubscribeErrorFrame>(FRAMES.subscribeError);
    await peer.roundTrip();
    expect(peer.data("s")).toEqual([{ secret: 1 }]);
  });

  it("server-initiated subscribe goes through authorize too", async () => {
    server = await startAssured({ authorize: () => false });
    const { assured, io } = server;
    const outcome = new Promise<unknown>((resolve) =>
      io.on("connection", (socket) => assured.subscribe(socket, "s").catch(resolve)),
    );
    const peer = await server.connect(assuredAuth());
    expect(await outcome).toMatchObject({ code: "UNAUTHORIZED" });
    expect(await peer.next<SubscribeErrorFrame>(FRAMES.subscribeError)).toMatchObject({
      stream: "s",
      error: { code: "UNAUTHORIZED" },
    });
  });

  it("a store failure while subscribing is a retryable STORE_UNAVAILABLE sub-error", async () => {
    const store = new FaultyStore();
    store.down = true;
    server = await startAssured({ store });
    const peer = await server.connect(assuredAuth([sub("s", null)]));
    expect(await peer.next<SubscribeErrorFrame>(FRAMES.subscribeError)).toMatchObject({
      stream: "s",
      error: { code: "STORE_UNAVAILABLE" },
    });
    store.down = false;
    await server.assured.publish("s", "e", 1);
    await peer.roundTrip();
    expect(peer.offsets("s")).toEqual([]);
  });
});
