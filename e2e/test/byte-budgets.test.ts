import { encode } from "@assured/core";
import { newId } from "@assured/core/store";
import { io, type Socket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { Changes } from "../src/changes.js";
import type { MemoryStats } from "../src/memory/memory-protocol.js";
import { MemoryServerProcess } from "../src/memory/memory-server-process.js";

/**
 * G11, DESIGN.md §8 "Budgets are in bytes": hostile clients drive a server (in its own process,
 * with a store that costs no memory) past each byte limit while the test measures the server's
 * memory: RSS (sampled every 10 ms) and, after forced garbage collections, the heap and
 * ArrayBuffers it still holds. Each test also checks what the limit does (connection closed,
 * replay waits, LIMIT_EXCEEDED) and that a well-behaved client is served.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
/** The rate limit is a separate defence: lifted so the storms reach the byte budgets. */
const NO_RATE_LIMIT = { tokensPerSecond: 1_000_000, burstTokens: 1_000_000 };
/** 2,000 events of 16 KiB: 32 MiB of replay, 1 MiB frames. */
const BIG = { big: { count: 2_000, bytes: 16 * KiB } };

let server: MemoryServerProcess | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.disconnect();
  await server?.kill();
  server = undefined;
});

const auth = (tag: string, subscriptions: unknown[] = []) => ({
  tag,
  assured: { v: 2, clientId: newId(), subscriptions },
});

function connect(url: string, handshake: Record<string, unknown>): Socket {
  const socket = io(url, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    auth: handshake,
  });
  sockets.push(socket);
  return socket;
}

/**
 * A client that stops reading: it connects, then pauses its TCP socket (the server's writes pile
 * up in the kernel, then in the server), and never acks anything. It can still send frames.
 */
async function stalledClient(url: string, tag: string): Promise<Socket> {
  const socket = connect(url, auth(tag));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  (
    socket.io.engine.transport as unknown as { ws: { _socket: { pause(): void } } }
  ).ws._socket.pause();
  return socket;
}

/**
 * A well-behaved client: counts records per stream (live batches, first pages, fetch replies),
 * keeps no payloads, and pulls a subscription's catch-up like the reference client (protocol v2:
 * one fetch at a time until the head the subscribe reply named).
 */
class CountingClient {
  readonly socket: Socket;
  readonly changes = new Changes();
  readonly records = new Map<string, number>();
  readonly frames: string[] = [];

  constructor(url: string, subscriptions: unknown[] = []) {
    this.socket = connect(url, auth("legit", subscriptions));
    this.socket.onAny((event: string, ...args: unknown[]) => {
      const last = args.at(-1);
      if (typeof last === "function") (last as () => void)();
      const frame = args[0] as
        | {
            stream?: string;
            records?: { count: number };
            epoch?: string;
            start?: number;
            head?: number;
          }
        | undefined;
      if ((event === "assured:batch" || event === "assured:subscribed") && frame?.stream) {
        this.#add(frame.stream, frame.records?.count ?? 0);
      }
      if (event === "assured:subscribed" && frame?.stream !== undefined) {
        const { stream, epoch = "", start = 0, head = 0 } = frame;
        void this.#pull(stream, epoch, start + (frame.records?.count ?? 0), head);
      }
      this.frames.push(event);
      this.changes.notify();
    });
    this.socket.on("connect", () => this.changes.notify());
  }

  async connected(): Promise<this> {
    await this.changes.until(() => this.socket.connected || undefined, {
      what: "the legit client to connect",
    });
    return this;
  }

  count(stream: string): number {
    return this.records.get(stream) ?? 0;
  }

  #add(stream: string, records: number): void {
    this.records.set(stream, (this.records.get(stream) ?? 0) + records);
  }

  async #pull(stream: string, epoch: string, after: number, head: number): Promise<void> {
    while (after < head && this.socket.connected) {
      const reply = (await this.socket
        .timeout(60_000)
        .emitWithAck("assured:fetch", { stream, epoch, after, limit: 1_000 })
        .catch(() => undefined)) as { ok: boolean; records?: { count: number } } | undefined;
      const got = reply?.ok ? (reply.records?.count ?? 0) : 0;
      if (got === 0) return;
      this.#add(stream, got);
      after += got;
      this.changes.notify();
    }
  }

  /** Resolves once `count` records of `stream` arrived. */
  received(stream: string, count: number, timeoutMs = 60_000): Promise<true> {
    return this.changes.until(() => this.count(stream) >= count, {
      timeoutMs,
      what: () => `${count} records of ${stream} (got ${this.count(stream)})`,
    });
  }
}

/** Memory figures of a run, in MiB, for the test output. */
function report(name: string, before: MemoryStats, peak: MemoryStats, after: MemoryStats): string {
  const mib = (bytes: number) => (bytes / MiB).toFixed(1);
  const line =
    `[memory] ${name}: rss before ${mib(before.rss)}, peak ${mib(peak.peakRss)} (+${mib(peak.peakRss - before.rss)}), ` +
    `after ${mib(after.rss)}; held after gc: heap ${mib(before.heapUsed)} -> ${mib(peak.heapUsed)} -> ${mib(after.heapUsed)}, ` +
    `arrayBuffers ${mib(before.arrayBuffers)} -> ${mib(peak.arrayBuffers)} -> ${mib(after.arrayBuffers)}`;
  console.log(line);
  return line;
}

/** A check that is true once a positive figure stayed the same for 15 polls (~300 ms): settled. */
function steady(): (value: number) => boolean {
  let last = -1;
  let same = 0;
  return (value) => {
    same = value > 0 && value === last ? same + 1 : 0;
    last = value;
    return same >= 15;
  };
}

/** Heap plus ArrayBuffers the server holds (after gc), in bytes. */
const held = (stats: MemoryStats) => stats.heapUsed + stats.arrayBuffers;

describe("byte budgets under hostile clients (G11)", () => {
  it("G11: live batches to a client that stopped reading: its connection is closed once its unsent bytes pass maxSocketBacklogBytes; server memory stays bounded; a reading client gets everything", async () => {
    const limit = 8 * MiB;
    server = await MemoryServerProcess.start({
      limits: { maxSocketBacklogBytes: limit },
      streams: {},
    });
    const sub = [{ stream: "live", position: null, from: "head" }];
    const legit = await new CountingClient(server.url, sub).connected();
    const stalled = await stalledClient(server.url, "stalled");
    stalled.emit("assured:sub", sub[0]);
    await server.until(
      (s) => (s.sent.stalled?.frames["assured:subscribed"] ?? 0) === 1,
      "the stalled subscription",
    );
    await legit.changes.until(() => legit.frames.includes("assured:subscribed"));
    const before = await server.stats(true);
    await server.run({ type: "resetPeak" });
    // 2,400 events of 64 KiB: 150 MiB for each subscriber, 4,800 packets (below maxSocketBacklog),
    // in rounds of 3 MiB paced by the reading client: it never holds more than a round unread
    // (on a busy machine an unpaced publisher outruns any reader, which is then rightly closed).
    let published = 0;
    for (let round = 0; round < 48; round++) {
      published += await server.run<number>({
        type: "publish",
        stream: "live",
        count: 50,
        bytes: 64 * KiB,
      });
      await legit.received("live", published);
    }
    const peak = await server.stats(true);
    const closed = peak.disconnects.find((d) => d.tag === "stalled");
    expect(closed?.reason).toBe("forced close");
    // Closed at the first packet past the limit: what it was sent is the limit plus what the
    // kernel took, far below the 150 MiB published.
    expect(closed!.bytes).toBeLessThan(limit + 24 * MiB);
    expect(legit.count("live")).toBe(published);
    const after = await server.stats(true);
    report("backlog", before, peak, after);
    expect(held(peak) - held(before)).toBeLessThan(32 * MiB);
    expect(peak.peakRss - before.rss).toBeLessThan(128 * MiB);
  });

  it("G11: a storm of assured:sub frames for a big stream from a client that stopped reading holds at most maxSocketReplayBytes unwritten; server memory stays bounded; a legit client is served meanwhile", async () => {
    server = await MemoryServerProcess.start({ limits: NO_RATE_LIMIT, streams: BIG });
    const stalled = await stalledClient(server.url, "stalled");
    const before = await server.stats(true);
    await server.run({ type: "resetPeak" });
    const storm = 60;
    // Protocol v2: each subscription answers with a first page (1 MiB) under the socket's byte
    // budget; once the kernel stops taking them, a new one waits, and each next one supersedes
    // the waiting one (it leaves the queue): nothing else is pushed, whatever the storm.
    for (let i = 1; i <= storm; i++) {
      stalled.emit("assured:sub", { stream: "big", position: null, from: "earliest" });
    }
    const settledAt = steady();
    const stormed = await server.until(
      (s) => settledAt(s.sent.stalled?.recordBytes ?? 0),
      "the storm to settle",
    );
    // What the kernel took plus at most the socket's budget (4 MiB), not 60 MiB of pages.
    expect(stormed.sent.stalled!.recordBytes).toBeLessThan(4 * MiB + 16 * MiB);
    expect(stormed.sent.stalled!.frames["assured:subscribed"]).toBeLessThan(storm);
    expect(stormed.sent.stalled!.frames["assured:batch"] ?? 0).toBe(0);
    const legit = await new CountingClient(server.url, [
      { stream: "big", position: null, from: "earliest" },
    ]).connected();
    await legit.received("big", 2_000);
    const peak = await server.stats(true);
    const after = await server.stats(true);
    report("subscribe storm", before, stormed, after);
    expect(held(stormed) - held(before)).toBeLessThan(32 * MiB);
    expect(peak.peakRss - before.rss).toBeLessThan(128 * MiB);
    expect(peak.sockets).toBe(2); // the stalled client is still connected: bounded, not closed
  });

  it("G11: a burst of assured:fetch from a client that stopped reading holds at most maxSocketReplayBytes of replies (plus what the kernel took); beyond the waiting ones LIMIT_EXCEEDED; server memory stays bounded; a legit fetch is served", async () => {
    server = await MemoryServerProcess.start({
      limits: { ...NO_RATE_LIMIT, maxSubscriptionsPerSocket: 32 },
      streams: BIG,
    });
    const stalled = await stalledClient(server.url, "stalled");
    const before = await server.stats(true);
    await server.run({ type: "resetPeak" });
    const requests = 300; // 1 MiB each: 300 MiB if every reply were buffered
    const replies: { ok: boolean; error?: { code: string } }[] = [];
    for (let i = 0; i < requests; i++) {
      stalled.emit(
        "assured:fetch",
        { stream: "big", epoch: "e1", after: 0, limit: 1_000 },
        (reply: never) => replies.push(reply),
      );
    }
    // Every fetch was answered (a reply that fitted, or LIMIT_EXCEEDED) or waits (at most 32).
    const stormed = await server.until(
      (s) => (s.sent.stalled?.frames.ack ?? 0) >= requests - 32,
      "the fetches to be answered or queued",
    );
    expect(stormed.sent.stalled!.recordBytes).toBeLessThan(4 * MiB + 16 * MiB);
    const legit = await new CountingClient(server.url).connected();
    const reply = await legit.socket
      .timeout(20_000)
      .emitWithAck("assured:fetch", { stream: "big", epoch: "e1", after: 0, limit: 1_000 });
    expect(reply).toMatchObject({ ok: true, head: 2_000 });
    const peak = await server.stats(true);
    report("fetch burst", before, peak, peak);
    expect(held(peak) - held(before)).toBeLessThan(32 * MiB);
    expect(peak.peakRss - before.rss).toBeLessThan(128 * MiB);
    // Once it reads again, every fetch is answered.
    (
      stalled.io.engine.transport as unknown as { ws: { _socket: { resume(): void } } }
    ).ws._socket.resume();
    const changes = new Changes();
    const poll = setInterval(() => changes.notify(), 20);
    try {
      await changes.until(() => replies.length === requests, {
        timeoutMs: 60_000,
        what: "every fetch reply",
      });
    } finally {
      clearInterval(poll);
    }
    const limited = replies.filter((r) => r.error?.code === "LIMIT_EXCEEDED").length;
    expect(limited).toBeGreaterThan(0);
    expect(replies.filter((r) => r.ok).length + limited).toBe(requests);
  });

  it("G11: client messages stay encoded while queued (decoded at their turn) and are bounded by maxQueuedBytes: beyond, LIMIT_EXCEEDED; server memory stays bounded", async () => {
    server = await MemoryServerProcess.start({
      limits: { ...NO_RATE_LIMIT, maxQueuedBytes: 1 * MiB },
      streams: {},
    });
    const client = await new CountingClient(server.url).connected();
    // 200 KiB of MessagePack that decode to 200,000 empty arrays each (~50× their size).
    const elements = 200 * KiB;
    const payload = new Uint8Array(5 + elements).fill(0x90);
    payload.set([
      0xdd,
      (elements >>> 24) & 255,
      (elements >>> 16) & 255,
      (elements >>> 8) & 255,
      elements & 255,
    ]);
    const before = await server.stats(true);
    await server.run({ type: "resetPeak" });
    const send = (seq: number, name: string) =>
      client.socket
        .timeout(60_000)
        .emitWithAck("assured:msg", { id: `m${seq}`, seq, name, payload }) as Promise<{
        ok: boolean;
        error?: { code: string };
      }>;
    const replies = [send(1, "hold"), ...Array.from({ length: 39 }, (_, i) => send(i + 2, "echo"))];
    await server.until((s) => s.holding === 1, "the first message to run");
    // Every message behind the running one arrived: 5 fit in the queue, the others are refused.
    const refused = await Promise.all(replies.slice(6));
    const peak = await server.stats(true);
    await server.run({ type: "release" });
    const handled = await Promise.all(replies.slice(0, 6));
    const after = await server.stats(true);
    report("queued messages", before, peak, after);
    expect(refused.every((r) => r.error?.code === "LIMIT_EXCEEDED")).toBe(true);
    expect(handled.every((r) => r.ok)).toBe(true);
    // One decoded message (the running one) and 1 MiB of encoded ones, not 40 decoded ones.
    expect(held(peak) - held(before)).toBeLessThan(48 * MiB);
    expect(peak.peakRss - before.rss).toBeLessThan(160 * MiB);
    expect(encode(null)).toBeInstanceOf(Uint8Array);
  });

  it("G11: fetches of many clients that stopped reading share maxReplayBytesInFlight: the rest queue (a legit subscription too, until they leave); server memory stays bounded", async () => {
    const budget = 8 * MiB;
    server = await MemoryServerProcess.start({
      limits: { ...NO_RATE_LIMIT, maxReplayBytesInFlight: budget, maxSubscriptionsPerSocket: 64 },
      streams: BIG,
    });
    const clients = 30;
    const stalled = await Promise.all(
      Array.from({ length: clients }, (_, i) => stalledClient(server!.url, `stalled${i}`)),
    );
    const before = await server.stats(true);
    await server.run({ type: "resetPeak" });
    // 40 fetches of 1 MiB each: 1.2 GB if every reply were buffered.
    for (const socket of stalled) {
      for (let n = 0; n < 40; n++) {
        socket.emit(
          "assured:fetch",
          { stream: "big", epoch: "e1", after: 0, limit: 1_000 },
          () => undefined,
        );
      }
    }
    const sentToStalled = (s: MemoryStats) =>
      Object.entries(s.sent)
        .filter(([tag]) => tag.startsWith("stalled"))
        .reduce((sum, [, c]) => sum + c.recordBytes, 0);
    const settledAt = steady();
    await server.until(
      (s) => sentToStalled(s) > budget && settledAt(sentToStalled(s)),
      "the stalled fetches to fill the kernels and the budget",
    );
    const legit = await new CountingClient(server.url, [
      { stream: "big", position: null, from: "earliest" },
    ]).connected();
    // A round trip: the legit subscription's first page waits in line behind the stalled replies.
    await legit.socket.timeout(10_000).emitWithAck("assured:heads", { streams: [] });
    expect(legit.frames).not.toContain("assured:subscribed");
    expect(legit.count("big")).toBe(0);
    const peak = await server.stats(true);
    for (const socket of stalled) socket.disconnect();
    await legit.received("big", 2_000);
    const after = await server.stats(true);
    report("server budget", before, peak, after);
    expect(held(peak) - held(before)).toBeLessThan(32 * MiB);
    expect(peak.peakRss - before.rss).toBeLessThan(128 * MiB);
  });
});
