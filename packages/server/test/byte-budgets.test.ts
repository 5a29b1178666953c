import { encode, MemoryDedupStore, MemoryEventStore } from "@assured/core";
import {
  type BatchFrame,
  type FetchReply,
  FRAMES,
  type MessageReply,
} from "@assured/core/protocol";
import { Server, type Socket as ServerSocket } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import { createAssuredServer, DEFAULT_LIMITS } from "../src/index.js";
import { stateOf } from "../src/socket-state.js";
import { assuredAuth, type Peer, range, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
/** Handlers still held by a test's gate are let go before the server closes. */
const gates: (() => void)[] = [];
afterEach(async () => {
  for (const open of gates.splice(0)) open();
  await server?.close();
  server = undefined;
});

const KiB = 1024;
/** 100 KiB records; pages of at most two (maxBatchBytes 256 KiB), budgets of two pages. */
const LIMITS = {
  maxBatchBytes: 256 * KiB,
  maxSocketReplayBytes: 512 * KiB,
  fetchLimit: 2,
  writeTimeoutMs: 60_000,
};

async function storeWith(streams: string[], count = 12) {
  const store = new MemoryEventStore();
  const payload = encode(new Uint8Array(100 * KiB));
  for (const stream of streams) {
    await store.append(
      stream,
      range(1, count).map(() => ({ name: "e", payload })),
    );
  }
  return store;
}

/** Lifts the rate limit (a separate defence) where a test drives a byte budget with a storm. */
const NO_RATE_LIMIT = { tokensPerSecond: 1_000_000, burstTokens: 1_000_000 };

const sub = (stream: string) => ({ stream, position: null, from: "earliest" });

function serverSocketOf(started: Started, peer: Peer): ServerSocket {
  const clientId = (peer.socket.auth as ReturnType<typeof assuredAuth>).assured.clientId;
  const socket = [...started.io.sockets.sockets.values()].find(
    (s) => s.handshake.auth.assured.clientId === clientId,
  );
  if (socket === undefined) throw new Error("no server socket for the peer");
  return socket;
}

const batchesOf = (peer: Peer, stream: string) =>
  peer.frames<BatchFrame>(FRAMES.batch).filter((b) => b.stream === stream);

/** Polls a condition of the server's state (nothing is sent to a client that does not read). */
async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A value of the server's state once it holds still (the same over 30 polls 10 ms apart): while
 * requests are still arriving, or the kernel still takes bytes, counts of waiters move.
 */
async function steady(read: () => number, what: string, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let value = read();
  let same = 0;
  while (same < 30) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const now = read();
    same = now === value ? same + 1 : 0;
    value = now;
  }
  return value;
}

/** The peer stops reading its TCP connection (it still sends); returns how to read again. */
function pauseReading(peer: Peer): () => void {
  const transport = peer.socket.io.engine.transport as unknown as {
    ws: { _socket: { pause(): void; resume(): void } };
  };
  transport.ws._socket.pause();
  return () => transport.ws._socket.resume();
}

describe("catch-up bytes in flight (maxSocketReplayBytes, maxReplayBytesInFlight)", () => {
  it("G11: a first page counts against the socket's budget: a subscription waits while the peer's unread replies hold it, and is answered once it reads", async () => {
    server = await startAssured({
      store: await storeWith(["a", "b"], 4),
      limits: { ...LIMITS, ...NO_RATE_LIMIT, maxSubscriptionsPerSocket: 256 },
    });
    const { epoch } = await server.store.head("a");
    const peer = await server.connect(assuredAuth());
    const budget = () => stateOf(serverSocketOf(server!, peer), DEFAULT_LIMITS).replayBudget;
    const resume = pauseReading(peer);
    // Far more than the kernel buffers take: the socket's 512 KiB are held by unwritten replies.
    const fetch = { stream: "a", epoch, after: 0, limit: 2 };
    for (let n = 0; n < 250; n++) peer.socket.emit(FRAMES.fetch, fetch, () => undefined);
    await eventually(() => (budget()?.waiting ?? 0) > 0, "the peer's budget to be spent");
    // Fetches still arriving (or granted as the kernel takes more bytes) move the count: the
    // subscription's own wait is seen against a count that holds still.
    const waiting = await steady(() => budget()!.waiting, "the waiting fetches to hold still");
    peer.socket.emit(FRAMES.subscribe, sub("b"));
    await eventually(() => budget()!.waiting > waiting, "the subscription to wait for its bytes");
    expect(budget()!.used).toBeLessThanOrEqual(512 * KiB);
    resume();
    const outcome = await peer.until(
      () => peer.frames(FRAMES.subscribed).find((f) => f.stream === "b"),
      20_000,
    );
    expect(outcome).toMatchObject({ recovered: true, start: 0, head: 4 });
    expect(peer.offsets("b")).toEqual([1, 2]);
    await peer.catchUp("b");
    expect(peer.offsets("b")).toEqual(range(1, 4));
    // Nothing was pushed beyond the first page.
    expect(batchesOf(peer, "b")).toEqual([]);
  });

  it("G11: the server's maxReplayBytesInFlight is shared: a subscription waits while others hold it, and goes on once they disconnect", async () => {
    server = await startAssured({
      store: await storeWith(["a"]),
      limits: {
        ...LIMITS,
        ...NO_RATE_LIMIT,
        maxReplayBytesInFlight: 512 * KiB,
        maxSubscriptionsPerSocket: 256,
      },
    });
    const { epoch } = await server.store.head("a");
    const holder = await server.connect(assuredAuth());
    pauseReading(holder);
    const fetch = { stream: "a", epoch, after: 0, limit: 2 };
    for (let n = 0; n < 250; n++) holder.socket.emit(FRAMES.fetch, fetch, () => undefined);
    const held = () => stateOf(serverSocketOf(server!, holder), DEFAULT_LIMITS).replayBudget;
    await eventually(() => (held()?.waiting ?? 0) > 0, "the holder to pin the server's budget");
    const waiter = await server.connect(assuredAuth([sub("a")]));
    await waiter.roundTrip();
    expect(waiter.frames(FRAMES.subscribed)).toHaveLength(0);
    expect(server.assured.limits.maxReplayBytesInFlight).toBe(512 * KiB);
    holder.socket.disconnect();
    await waiter.next(FRAMES.subscribed);
    await waiter.catchUp("a");
    expect(waiter.offsets("a")).toEqual(range(1, 12));
  });
});

describe("fetch replies in flight (maxSocketReplayBytes)", () => {
  it("G11: a client that stops reading gets at most the budget (plus what the kernel took) of fetch replies; the rest wait or get LIMIT_EXCEEDED, and all are answered once it reads", async () => {
    server = await startAssured({
      store: await storeWith(["a"], 4),
      // The rate limit would refuse most of this burst: lifted, to drive the byte budget.
      limits: { ...LIMITS, ...NO_RATE_LIMIT, maxSubscriptionsPerSocket: 16 },
    });
    const { epoch } = await server.store.head("a");
    const peer = await server.connect(assuredAuth());
    const onServer = serverSocketOf(server, peer);
    const conn = onServer.conn as unknown as {
      on(event: "packetCreate", listener: (packet: { data?: unknown }) => void): void;
    };
    let created = 0;
    let answers = 0;
    conn.on("packetCreate", (packet) => {
      const data = packet.data;
      // An ack packet ("3" + "<id>[…]"), with or without a binary attachment ("6…").
      if (typeof data === "string" && /^[36]/.test(data)) answers++;
      if (typeof data === "string") created += data.length;
      else if (ArrayBuffer.isView(data)) created += data.byteLength;
    });
    const socket = peer.socket.io.engine.transport as unknown as {
      ws: { _socket: { pause(): void; resume(): void } };
    };
    socket.ws._socket.pause();
    const requests = 400; // ~200 KiB each: ~80 MiB if every reply were buffered
    const replies: { ok: boolean; error?: { code: string } }[] = [];
    for (let i = 0; i < requests; i++) {
      peer.socket.emit(FRAMES.fetch, { stream: "a", epoch, after: 0, limit: 2 }, (reply: never) =>
        replies.push(reply),
      );
    }
    const budget = () => stateOf(onServer, DEFAULT_LIMITS).replayBudget;
    const handled = () => answers + (budget()?.waiting ?? 0);
    // Each fetch is answered (the replies that fit, LIMIT_EXCEEDED beyond 16 waiting) or waits.
    await eventually(() => handled() === requests, "every fetch to be handled");
    expect(replies).toHaveLength(0);
    expect(created).toBeLessThan(16 * 1024 * KiB);
    socket.ws._socket.resume();
    await eventually(() => replies.length === requests, "every reply", 20_000);
    const ok = replies.filter((r) => r.ok).length;
    const limited = replies.filter((r) => r.error?.code === "LIMIT_EXCEEDED").length;
    expect(ok + limited).toBe(requests);
    expect(limited).toBeGreaterThan(0);
    expect(ok).toBeGreaterThan(16);
    expect(budget()?.used).toBe(0);
  });
});

describe("catch-up bytes of a peer that stopped reading (write deadline)", () => {
  /** The peer stops reading its TCP connection (it still sends). */
  function stopReading(peer: Peer): void {
    const transport = peer.socket.io.engine.transport as unknown as {
      ws: { _socket: { pause(): void } };
    };
    transport.ws._socket.pause();
  }

  it("G11: connections that hold maxReplayBytesInFlight without reading are closed within writeTimeoutMs; the fetches and subscriptions queued behind them are served", async () => {
    const limitMs = 1_500;
    server = await startAssured({
      store: await storeWith(["a"], 4),
      limits: {
        ...LIMITS,
        ...NO_RATE_LIMIT,
        // Two sockets' budgets: two readers that stopped pin the server's budget.
        maxReplayBytesInFlight: 1024 * KiB,
        maxSubscriptionsPerSocket: 256,
        writeTimeoutMs: limitMs,
      },
    });
    const started = server;
    const { epoch } = await started.store.head("a");
    const fetch = { stream: "a", epoch, after: 0, limit: 2 }; // ~200 KiB a reply
    const stalled: { onServer: ServerSocket; closedAt: () => number | undefined }[] = [];
    for (let i = 0; i < 3; i++) {
      const peer = await started.connect(assuredAuth());
      const onServer = serverSocketOf(started, peer);
      let closedAt: number | undefined;
      onServer.once("disconnect", () => {
        closedAt = Date.now();
      });
      stopReading(peer);
      // Far more than the kernel buffers take (~50 MiB): the last replies stay unwritten.
      for (let n = 0; n < 250; n++) peer.socket.emit(FRAMES.fetch, fetch, () => undefined);
      stalled.push({ onServer, closedAt: () => closedAt });
    }
    const budget = (socket: ServerSocket) => stateOf(socket, DEFAULT_LIMITS).replayBudget;
    const held = () => stalled.reduce((sum, s) => sum + (budget(s.onServer)?.used ?? 0), 0);
    // Two stalled sockets hold the whole server budget, the third waits for it.
    await eventually(
      () => held() > 1024 * KiB - 256 * KiB && (budget(stalled[2]!.onServer)?.waiting ?? 0) > 0,
      "the stalled sockets to pin the server's budget",
    );
    const pinnedAt = Date.now();
    const reader = await started.connect(assuredAuth());
    const replies: FetchReply[] = [];
    reader.socket.emit(FRAMES.fetch, fetch, (reply: FetchReply) => replies.push(reply));
    const replayer = await started.connect(assuredAuth([sub("a")]));
    await reader.roundTrip();
    await replayer.roundTrip();
    expect(replies).toHaveLength(0); // queued behind the stalled sockets
    expect(replayer.frames(FRAMES.subscribed)).toHaveLength(0);
    // Within the deadline (plus the watchdog's period and the time the last replies took to
    // be granted), not engine.io's heartbeat (45 s): the budget comes back, the queue moves.
    await eventually(() => replies.length === 1, "the fetch queued behind", 3 * limitMs);
    expect(replies[0]).toMatchObject({ ok: true, head: 4 });
    await replayer.until(() => replayer.frames(FRAMES.subscribed).length === 1, 3 * limitMs);
    await replayer.catchUp("a");
    expect(replayer.offsets("a")).toEqual(range(1, 4));
    await eventually(
      () => stalled.every((s) => s.closedAt() !== undefined),
      "every stalled socket to be closed",
      4 * limitMs,
    );
    const first = Math.min(...stalled.map((s) => s.closedAt()!));
    expect(first - pinnedAt).toBeLessThan(limitMs + 1_000);
    expect(reader.socket.connected).toBe(true);
    expect(replayer.socket.connected).toBe(true);
  });
});

describe("queued client messages (maxQueuedBytes, decoded at their turn)", () => {
  function gated(started: Started) {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    gates.push(open);
    let started_ = false;
    started.assured.on("wait", async () => {
      started_ = true;
      await gate;
      return "done";
    });
    started.assured.on("echo", (data) => data);
    return { open, started: () => started_ };
  }

  it("G11/G10: a queued payload stays encoded: one that does not decode gets CODEC_ERROR at its turn, in order; a malformed one at once", async () => {
    server = await startAssured();
    const gate = gated(server);
    const peer = await server.connect(assuredAuth());
    const order: string[] = [];
    const send = (id: string, seq: number, name: string, payload: Uint8Array) =>
      peer.request<MessageReply>(FRAMES.message, { id, seq, name, payload }).then((reply) => {
        order.push(id);
        return reply;
      });
    const first = send("m1", 1, "wait", encode(null));
    // Well-formed MessagePack (the arrival check passes) that does not decode: a timestamp
    // extension of one byte.
    const bad = send("m2", 2, "echo", new Uint8Array([0xd4, 0xff, 0x00]));
    const after = send("m3", 3, "echo", encode("ok"));
    await eventually(gate.started, "the first handler to run");
    // A payload the scan at arrival rejects takes no place in the queue.
    expect(await send("m4", 4, "echo", new Uint8Array([0xc1]))).toMatchObject({
      ok: false,
      error: { code: "CODEC_ERROR" },
    });
    expect(order).toEqual(["m4"]);
    gate.open();
    expect(await first).toMatchObject({ ok: true });
    expect(await bad).toMatchObject({ ok: false, error: { code: "CODEC_ERROR" } });
    expect(await after).toMatchObject({ ok: true });
    expect(order).toEqual(["m4", "m1", "m2", "m3"]);
  });

  it("G11/G10: beyond maxQueuedBytes a message is LIMIT_EXCEEDED (retryable), later ones wait for it, and its resend runs", async () => {
    server = await startAssured({
      limits: { maxPayloadBytes: 128 * KiB, maxQueuedBytes: 256 * KiB },
    });
    const gate = gated(server);
    const peer = await server.connect(assuredAuth());
    const data = new Uint8Array(100 * KiB);
    const send = (n: number) =>
      peer.request<MessageReply>(FRAMES.message, {
        id: `m${n}`,
        seq: n,
        name: n === 1 ? "wait" : "echo",
        payload: encode(data),
      });
    const running = send(1);
    await eventually(gate.started, "the first handler to run");
    const queued = [send(2), send(3)]; // 200 KiB queued behind the running one
    expect(await send(4)).toMatchObject({ ok: false, error: { code: "LIMIT_EXCEEDED" } });
    expect(await send(5)).toMatchObject({
      ok: false,
      error: { code: "LIMIT_EXCEEDED", details: { waitingForSeq: 4 } },
    });
    gate.open();
    expect(await running).toMatchObject({ ok: true });
    for (const reply of await Promise.all(queued)) expect(reply).toMatchObject({ ok: true });
    expect(await send(4)).toMatchObject({ ok: true });
    expect(await send(5)).toMatchObject({ ok: true });
  });
});

describe("byte limits are validated", () => {
  it("G11: a byte budget below what it must hold, or an unknown limit, is INVALID_ARGUMENT", async () => {
    const io = new Server();
    const options = { store: new MemoryEventStore(), dedupStore: new MemoryDedupStore() };
    for (const limits of [
      { maxSocketReplayBytes: DEFAULT_LIMITS.maxBatchBytes - 1 },
      { maxReplayBytesInFlight: DEFAULT_LIMITS.maxSocketReplayBytes - 1 },
      {
        maxSocketBacklogBytes:
          DEFAULT_LIMITS.maxSocketReplayBytes + DEFAULT_LIMITS.maxBatchBytes - 1,
      },
      { maxQueuedBytes: DEFAULT_LIMITS.maxPayloadBytes - 1 },
      { maxSocketBacklogBytes: 0 },
      { maxQueuedBytes: 1.5 },
      { maxSocketBacklogKiB: 1 },
    ]) {
      expect(() => createAssuredServer(io, { ...options, limits } as never)).toThrowError(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
    }
    const fits = createAssuredServer(io, {
      ...options,
      limits: {
        maxBatchBytes: 64 * KiB,
        maxSocketReplayBytes: 64 * KiB,
        maxReplayBytesInFlight: 64 * KiB,
        maxSocketBacklogBytes: 128 * KiB,
        maxPayloadBytes: 32 * KiB,
        maxQueuedBytes: 32 * KiB,
      },
    });
    await fits.close();
    expect(DEFAULT_LIMITS).toMatchObject({
      maxSocketBacklogBytes: 16 * 1024 * KiB,
      maxSocketReplayBytes: 4 * 1024 * KiB,
      maxReplayBytesInFlight: 256 * 1024 * KiB,
      maxQueuedBytes: 8 * 1024 * KiB,
    });
  });
});
