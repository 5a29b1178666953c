import { type AssuredErrorData, encode, MemoryDedupStore, MemoryEventStore } from "@assured/core";
import { FRAMES, type SubscribeErrorFrame } from "@assured/core/protocol";
import { Server } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import { createAssuredServer } from "../src/index.js";
import { assuredAuth, Peer, range, seed, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function snapshot(store: MemoryEventStore, streams: string[]) {
  return Promise.all(
    streams.map(async (s) => {
      const page = await store.read(s, { after: 0, limit: 1000 });
      return { ...page, records: page.records.map((r) => [r.offset, r.id, [...r.payload]]) };
    }),
  );
}

/** Errors received so far: sub-errors and assured:error frames, as codes. */
function errorCodes(peer: Peer): string[] {
  return [
    ...peer.frames<SubscribeErrorFrame>(FRAMES.subscribeError).map((f) => f.error.code),
    ...peer.frames<AssuredErrorData>(FRAMES.error).map((f) => f.code),
  ];
}

describe("G12: bad input gets typed errors; the server keeps serving; nothing stored changes", () => {
  it("G12: garbage, wrong types, NaN/negative/huge offsets, foreign epochs on assured:sub", async () => {
    const store = new MemoryEventStore();
    await seed(store, "s", 10);
    const { epoch } = await store.head("s");
    server = await startAssured({ store });
    const bystander = await server.connect(
      assuredAuth([{ stream: "s", position: null, from: "head" }]),
    );
    await bystander.next(FRAMES.subscribed);
    const before = await snapshot(store, ["s"]);

    const attacker = await server.connect(assuredAuth());
    const frames: [unknown, string][] = [
      ["garbage", "BAD_FRAME"],
      [42, "BAD_FRAME"],
      [null, "BAD_FRAME"],
      [[1, 2], "BAD_FRAME"],
      [{ stream: 5, position: null }, "INVALID_STREAM"],
      [{ stream: "", position: null }, "INVALID_STREAM"],
      [{ stream: "x".repeat(300), position: null }, "INVALID_STREAM"],
      [{ stream: "s", position: { epoch, offset: -1 } }, "INVALID_OFFSET"],
      [{ stream: "s", position: { epoch, offset: Number.NaN } }, "INVALID_OFFSET"],
      [{ stream: "s", position: { epoch, offset: 2 ** 60 } }, "INVALID_OFFSET"],
      [{ stream: "s", position: { epoch, offset: 1.5 } }, "INVALID_OFFSET"],
      [{ stream: "s", position: { epoch, offset: "3" } }, "INVALID_OFFSET"],
      [{ stream: "s", position: { epoch: 7, offset: 3 } }, "INVALID_EPOCH"],
      [{ stream: "s", position: { epoch: "e".repeat(200), offset: 3 } }, "INVALID_EPOCH"],
      [{ stream: "s", position: "start" }, "BAD_FRAME"],
      [{ stream: "s", position: null, from: "middle" }, "BAD_FRAME"],
    ];
    for (const [frame] of frames) attacker.socket.emit(FRAMES.subscribe, frame);
    attacker.socket.emit(FRAMES.unsubscribe, { stream: 9 });
    attacker.socket.emit(FRAMES.fetch, { stream: "s", epoch, after: 0, limit: 1 });
    attacker.socket.emit(FRAMES.heads, { streams: ["s"] });
    attacker.socket.emit(FRAMES.message, { id: "m", seq: 1, name: "x", payload: encode(1) });
    const expected = [
      ...frames.map(([, code]) => code),
      "INVALID_STREAM",
      "BAD_FRAME",
      "BAD_FRAME",
      "BAD_FRAME",
    ];
    await attacker.until(() => errorCodes(attacker).length === expected.length);
    expect(errorCodes(attacker).sort()).toEqual(expected.sort());
    // Foreign epoch with an offset is an outcome, not an error (G6).
    attacker.socket.emit(FRAMES.subscribe, {
      stream: "s",
      position: { epoch: "foreign", offset: 3 },
    });
    expect(await attacker.next(FRAMES.subscribed)).toMatchObject({
      recovered: false,
      reason: "epoch",
    });

    await server.assured.publish("s", "e", 11);
    await bystander.until(() => bystander.offsets("s").length === 1);
    expect(bystander.frames(FRAMES.error)).toEqual([]);
    const after = await snapshot(store, ["s"]);
    expect(after[0]!.records.slice(0, 10)).toEqual(before[0]!.records);
    expect(after[0]!.epoch).toBe(before[0]!.epoch);
  });

  it("G12: a protocol v1 client gets a clear PROTOCOL_VERSION error and nothing else", async () => {
    server = await startAssured();
    await server.assured.publish("s", "e", 1);
    const peer = await server.connect({
      assured: {
        v: 1,
        clientId: "c",
        subscriptions: [{ stream: "s", position: null, from: "earliest" }],
      },
    });
    const error = await peer.next<AssuredErrorData>(FRAMES.error);
    expect(error).toMatchObject({
      code: "PROTOCOL_VERSION",
      details: { version: 2, peerVersion: 1 },
    });
    expect(error.message).toMatch(/protocol version 1.*version 2.*upgrade @assured\/client/);
    expect(peer.frames(FRAMES.subscribed)).toEqual([]);
    expect(peer.frames(FRAMES.hello)).toEqual([{ v: 2, dedupTtlMs: expect.any(Number) }]);
    // Nothing it sends is handled: each frame gets the same error.
    let ran = false;
    server.assured.on("echo", () => {
      ran = true;
    });
    const reply = await peer.send("echo", 1);
    expect(reply).toMatchObject({ ok: false, error: { code: "PROTOCOL_VERSION" } });
    const fetched = await peer.request(FRAMES.fetch, {
      stream: "s",
      epoch: "",
      after: 0,
      limit: 1,
    });
    expect(fetched).toMatchObject({ ok: false, error: { code: "PROTOCOL_VERSION" } });
    peer.socket.emit(FRAMES.subscribe, { stream: "s", position: null, from: "earliest" });
    await peer.until(() => peer.frames(FRAMES.error).length === 2);
    expect(peer.frames(FRAMES.subscribed)).toEqual([]);
    expect(ran).toBe(false);
  });

  it("G12: a bad handshake gets an assured:error and no subscriptions", async () => {
    server = await startAssured();
    const cases: [unknown, string][] = [
      [{ v: "2", clientId: "c", subscriptions: [] }, "BAD_FRAME"],
      [{ v: 1, clientId: "c", subscriptions: [] }, "PROTOCOL_VERSION"],
      [{ v: 3, clientId: "c", subscriptions: [] }, "PROTOCOL_VERSION"],
      [{ v: 2, clientId: "c", subscriptions: "s" }, "BAD_FRAME"],
      [{ v: 2, clientId: 12, subscriptions: [] }, "INVALID_ARGUMENT"],
      [{ v: 2, clientId: "c".repeat(249), subscriptions: [] }, "INVALID_ARGUMENT"],
      ["assured", "BAD_FRAME"],
    ];
    for (const [assured, code] of cases) {
      const peer = await server.connect({ assured });
      const error = await peer.next<AssuredErrorData>(FRAMES.error);
      expect(error.code, JSON.stringify(assured)).toBe(code);
      await peer.roundTrip();
      expect(peer.frames(FRAMES.subscribed)).toEqual([]);
    }
    const bad = await server.connect(
      assuredAuth([
        { stream: "", position: null },
        { stream: "ok", position: null },
      ]),
    );
    expect(await bad.next<AssuredErrorData>(FRAMES.subscribeError)).toMatchObject({
      error: { code: "INVALID_STREAM" },
    });
    expect(await bad.next(FRAMES.subscribed)).toMatchObject({ stream: "ok" });
  });

  it("G11/G12: a flood is RATE_LIMITED while other clients are served", async () => {
    server = await startAssured({ limits: { tokensPerSecond: 1, burstTokens: 5 } });
    const flooder = await server.connect(assuredAuth());
    const other = await server.connect(assuredAuth([{ stream: "s", position: null }]));
    for (let i = 0; i < 50; i++) {
      flooder.socket.emit(FRAMES.subscribe, { stream: `s${i}`, position: null });
    }
    await flooder.until(
      () =>
        flooder.frames(FRAMES.subscribed).length + flooder.frames(FRAMES.subscribeError).length ===
        50,
    );
    // Each refusal names its stream, so a client can subscribe it again later.
    const refusals = flooder.frames<{ stream: string; error: AssuredErrorData }>(
      FRAMES.subscribeError,
    );
    expect(refusals.every((r) => /^s\d+$/.test(r.stream))).toBe(true);
    const limited = refusals.map((r) => r.error);
    expect(limited.every((e) => e.code === "RATE_LIMITED")).toBe(true);
    expect(flooder.frames(FRAMES.subscribed).length).toBeLessThanOrEqual(8);
    expect(limited.length).toBeGreaterThanOrEqual(42);
    const reply = await flooder.request(FRAMES.heads, { streams: ["s"] });
    expect(reply).toMatchObject({ ok: false, error: { code: "RATE_LIMITED" } });
    await server.assured.publish("s", "e", 1);
    await other.until(() => other.offsets("s").length === 1);
    expect(await other.request(FRAMES.heads, { streams: ["s"] })).toMatchObject({ ok: true });
  });

  it("G11: beyond maxSubscriptionsPerSocket a subscription is LIMIT_EXCEEDED", async () => {
    server = await startAssured({ limits: { maxSubscriptionsPerSocket: 2 } });
    const tooMany = await server.connect(
      assuredAuth(range(1, 3).map((n) => ({ stream: `s${n}`, position: null }))),
    );
    expect(await tooMany.next<AssuredErrorData>(FRAMES.error)).toMatchObject({
      code: "LIMIT_EXCEEDED",
    });
    const peer = await server.connect(assuredAuth());
    for (const stream of ["a", "b", "c"]) {
      peer.socket.emit(FRAMES.subscribe, { stream, position: null });
    }
    expect(await peer.next<SubscribeErrorFrame>(FRAMES.subscribeError)).toMatchObject({
      stream: "c",
      error: { code: "LIMIT_EXCEEDED" },
    });
    await peer.until(() => peer.frames(FRAMES.subscribed).length === 2);
    peer.socket.emit(FRAMES.unsubscribe, { stream: "a" });
    peer.socket.emit(FRAMES.subscribe, { stream: "c", position: null });
    expect(await peer.next(FRAMES.subscribed, (f) => f.stream === "c")).toMatchObject({
      recovered: true,
    });
  });

  it("G11: limits are validated when the server is created", async () => {
    // A Server not attached to any HTTP server holds no resources.
    const io = new Server();
    const options = { store: new MemoryEventStore(), dedupStore: new MemoryDedupStore() };
    for (const limits of [
      { replayLimit: 0 },
      { burstTokens: 1.5 },
      { bogus: 1 },
      // The frame-based names of before the work-based rate limit are unknown now.
      { messagesPerSecond: 500 },
      { burst: 1_000 },
      { fetchLimit: 20_000 },
    ]) {
      expect(() => createAssuredServer(io, { ...options, limits } as never)).toThrowError(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
    }
    expect(() => createAssuredServer(io, {} as never)).toThrowError(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });

  it("G12: bad hooks and a payload limit that does not fit Socket.IO's maxHttpBufferSize are INVALID_ARGUMENT", async () => {
    const options = { store: new MemoryEventStore(), dedupStore: new MemoryDedupStore() };
    const io = new Server();
    for (const bad of [{ authorize: "yes" }, { identify: 42 }, { limit: { burst: 1 } }]) {
      expect(() => createAssuredServer(io, { ...options, ...bad } as never)).toThrowError(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
    }
    const small = new Server({ maxHttpBufferSize: 100_000 });
    small.attach(0); // creates the engine whose options are checked
    try {
      expect(() => createAssuredServer(small, options)).toThrowError(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
      const fits = createAssuredServer(small, { ...options, limits: { maxPayloadBytes: 90_000 } });
      await fits.close();
    } finally {
      await new Promise<void>((resolve) => small.close(() => resolve()));
    }
  });

  it("G12: bad arguments to publish, subscribe, unsubscribe, on and close are INVALID_ARGUMENT (or the specific code)", async () => {
    server = await startAssured();
    const { assured } = server;
    const peer = await server.connect(assuredAuth());
    const [socket] = [...server.io.sockets.sockets.values()];
    const code = async (run: () => unknown) => {
      try {
        await run();
      } catch (error) {
        return (error as { code?: string }).code;
      }
      return "no error";
    };
    expect(await code(() => assured.publish("s", "e", 1, null as never))).toBe("INVALID_ARGUMENT");
    expect(await code(() => assured.publish("s", "e", 1, { id: 5 } as never))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(await code(() => assured.publish("", "e", 1))).toBe("INVALID_STREAM");
    expect(await code(() => assured.publish("s", "", 1))).toBe("INVALID_ARGUMENT");
    expect(await code(() => assured.publish("s", "e", () => 1))).toBe("CODEC_ERROR");
    expect(await code(() => assured.subscribe(null as never, "s"))).toBe("INVALID_ARGUMENT");
    expect(await code(() => assured.subscribe({} as never, "s"))).toBe("INVALID_ARGUMENT");
    expect(await code(() => assured.subscribe(socket!, "s", null as never))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(await code(() => assured.subscribe(socket!, "s", { from: "now" as never }))).toBe(
      "INVALID_ARGUMENT",
    );
    // A socket of another namespace than the one Assured is attached to.
    const otherNsp = server.io.of("/other");
    const connected = new Promise<import("socket.io").Socket>((resolve) =>
      otherNsp.once("connection", resolve),
    );
    const stranger = new Peer(`${server.url}/other`, undefined);
    await stranger.connect();
    const foreign = await connected;
    expect(await code(() => assured.subscribe(foreign as never, "s"))).toBe("INVALID_ARGUMENT");
    stranger.socket.disconnect();
    expect(await code(() => assured.unsubscribe(undefined as never, "s"))).toBe("INVALID_ARGUMENT");
    expect(await code(() => assured.unsubscribe(socket!, 7 as never))).toBe("INVALID_STREAM");
    expect(await code(() => assured.on("assured:msg", () => 1))).toBe("INVALID_ARGUMENT");
    expect(await code(() => assured.on("ok", "handler" as never))).toBe("INVALID_ARGUMENT");
    // The server keeps serving.
    expect(await assured.subscribe(socket!, "s")).toMatchObject({ stream: "s", recovered: true });
    await peer.roundTrip();
  });
});
