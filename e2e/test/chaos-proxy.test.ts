import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { connect, createServer, type Socket as TcpSocket } from "node:net";
import { performance } from "node:perf_hooks";
import { type Socket as ClientSocket, io } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { FaultProxy } from "../src/chaos/fault-proxy.js";
import { waitFor } from "../src/multi-node/wait-for.js";
import { nextEvent } from "../src/next-event.js";
import { type RunningSocketServer, startSocketServer } from "../src/socket-server.js";

/** Fast heartbeats: a connection silent for pingInterval + pingTimeout is dead. */
const FAST_PING = { pingInterval: 100, pingTimeout: 250 };
/** Heartbeats that never fire during a test. */
const SLOW_PING = { pingInterval: 20_000, pingTimeout: 20_000 };
const MiB = 1024 * 1024;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A Socket.IO node (with Assured attached) and what it saw. */
interface Node {
  readonly server: RunningSocketServer;
  /** The numbers of the "n" messages, in arrival order. */
  readonly numbers: number[];
  /** The reason of every server-side disconnect. */
  readonly disconnects: string[];
}

async function node(ping = FAST_PING): Promise<Node> {
  const numbers: number[] = [];
  const disconnects: string[] = [];
  const server = await startSocketServer({
    serverOptions: { ...ping, maxHttpBufferSize: 4 * MiB },
    beforeListen: (_assured, sio) => {
      sio.on("connection", (socket) => {
        socket.on("echo", (value: unknown, ack: (v: unknown) => void) => ack(value));
        socket.on("n", (n: number) => numbers.push(n));
        socket.on("digest", (data: Buffer, ack: (v: unknown) => void) =>
          ack({ length: data.length, sha256: sha256(data) }),
        );
        socket.on("count", async (count: number) => {
          for (let n = 0; n < count; n++) {
            socket.emit("n", n);
            await new Promise((resolve) => setImmediate(resolve));
          }
        });
        socket.on("disconnect", (reason) => disconnects.push(reason));
      });
    },
  });
  cleanups.push(() => server.close());
  return { server, numbers, disconnects };
}

async function proxyTo(upstreams: () => readonly number[]): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ upstreams });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A socket.io-client on WebSocket that reconnects quickly; resolves once connected. */
async function client(url: string): Promise<ClientSocket> {
  const socket = io(url, {
    transports: ["websocket"],
    reconnectionDelay: 20,
    reconnectionDelayMax: 50,
  });
  cleanups.push(() => {
    socket.disconnect();
  });
  await nextEvent(socket, "connect");
  return socket;
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, n) => n);
}

/** A port on 127.0.0.1 where nothing listens (connections are refused). */
async function deadPort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once `socket` closed, whether by FIN or by RST (`once` would reject on the error). */
function closed(socket: TcpSocket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve();
    else socket.once("close", () => resolve());
  });
}

/** Resolves once `read()` has not changed for `quietMs` (polled), with its value. */
async function quiescent(read: () => number, quietMs = 300): Promise<number> {
  let last = read();
  let since = performance.now();
  await waitFor(
    () => {
      const value = read();
      if (value !== last) [last, since] = [value, performance.now()];
      return performance.now() - since >= quietMs;
    },
    10_000,
    "the value to settle",
  );
  return last;
}

describe("FaultProxy: a fault-injection TCP proxy between Socket.IO clients and nodes", () => {
  it("relays an echo round trip", async () => {
    const { server } = await node();
    const proxy = await proxyTo(() => [server.port]);
    const socket = await client(proxy.url);
    expect(await socket.timeout(5_000).emitWithAck("echo", "hello")).toBe("hello");
    expect(proxy.connections()).toBe(1);
    expect(proxy.stats()).toEqual({
      accepted: 1,
      cut: 0,
      stalled: 0,
      halfOpened: 0,
      upstreamRefused: 0,
    });
  });

  it("latency: an ack round trip takes at least twice the latency", async () => {
    const { server } = await node();
    const proxy = await proxyTo(() => [server.port]);
    const socket = await client(proxy.url);
    proxy.setToxics({ latencyMs: 60 });
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      expect(await socket.timeout(5_000).emitWithAck("echo", i)).toBe(i);
      expect(performance.now() - start).toBeGreaterThanOrEqual(2 * 60);
    }
  });

  it("jitter does not reorder 200 numbered messages in either direction", async () => {
    const { server, numbers } = await node();
    const proxy = await proxyTo(() => [server.port]);
    const socket = await client(proxy.url);
    const fromServer: number[] = [];
    socket.on("n", (n: number) => fromServer.push(n));
    proxy.setToxics({ latencyMs: 20, jitterMs: 20 });
    for (const n of range(200)) {
      socket.emit("n", n);
      await new Promise((resolve) => setImmediate(resolve)); // separate writes, separate chunks
    }
    socket.emit("count", 200);
    await waitFor(
      () => numbers.length === 200 && fromServer.length === 200,
      10_000,
      "200 each way",
    );
    expect(numbers).toEqual(range(200));
    expect(fromServer).toEqual(range(200));
  });

  it("bandwidth: 200 KB at 100 KB/s take at least 1.5 s and arrive intact", async () => {
    const { server } = await node(SLOW_PING);
    const proxy = await proxyTo(() => [server.port]);
    const socket = await client(proxy.url);
    proxy.setToxics({ bytesPerSecond: 100_000 });
    const payload = randomBytes(200_000);
    const start = performance.now();
    const answer = await socket.timeout(10_000).emitWithAck("digest", payload);
    const elapsed = performance.now() - start;
    expect(answer).toEqual({ length: payload.length, sha256: sha256(payload) });
    expect(elapsed).toBeGreaterThanOrEqual(1_500);
    expect(elapsed).toBeLessThan(6_000);
  });

  it("a stall longer than the heartbeat drops the connection on both sides; the client reconnects through the proxy", async () => {
    const { server, disconnects } = await node();
    const proxy = await proxyTo(() => [server.port]);
    const socket = await client(proxy.url);
    const firstId = socket.id;
    const dropped = nextEvent<[string]>(socket, "disconnect");
    const back = dropped.then(() => nextEvent(socket, "connect"));
    proxy.stall(10_000);
    expect(proxy.stats().stalled).toBe(1);
    expect((await dropped)[0]).toBe("ping timeout");
    await waitFor(() => disconnects.includes("ping timeout"), 5_000, "the server's ping timeout");
    await back; // new connections are not stalled
    expect(socket.id).not.toBe(firstId);
    expect(await socket.timeout(5_000).emitWithAck("echo", "again")).toBe("again");
    expect(proxy.connections()).toBe(2); // the stalled one is still open, its bytes held
    proxy.heal(); // the held close handshakes are delivered: the old connection ends
    await waitFor(() => proxy.connections() === 1, 5_000, "the stalled connection to close");
  });

  it("a stall shorter than the heartbeat delivers everything late, nothing lost", async () => {
    const { server, numbers, disconnects } = await node();
    const proxy = await proxyTo(() => [server.port]);
    const socket = await client(proxy.url);
    const lost: string[] = [];
    socket.on("disconnect", (reason) => lost.push(reason));
    const start = performance.now();
    proxy.stall(120);
    for (const n of range(50)) socket.emit("n", n);
    expect(await socket.timeout(5_000).emitWithAck("echo", "late")).toBe("late");
    expect(performance.now() - start).toBeGreaterThanOrEqual(120);
    expect(numbers).toEqual(range(50));
    expect(lost).toEqual([]);
    expect(disconnects).toEqual([]);
    expect(proxy.connections()).toBe(1);
  });

  it("halfOpen: the client notices only by its ping timeout, then reconnects; heal() cuts the dead connection", async () => {
    const { server, disconnects } = await node();
    const proxy = await proxyTo(() => [server.port]);
    const socket = await client(proxy.url);
    const dropped = nextEvent<[string]>(socket, "disconnect");
    const back = dropped.then(() => nextEvent(socket, "connect"));
    expect(proxy.halfOpen()).toBe(1);
    expect((await dropped)[0]).toBe("ping timeout");
    await waitFor(() => disconnects.includes("ping timeout"), 5_000, "the server's ping timeout");
    await back;
    expect(await socket.timeout(5_000).emitWithAck("echo", "alive")).toBe("alive");
    expect(proxy.connections()).toBe(2); // the dead one never closes on its own
    proxy.heal();
    expect(proxy.connections()).toBe(1);
    expect(proxy.stats()).toMatchObject({ halfOpened: 1, cut: 1 });
  });

  it("cut: the selected connection is reset, its client reconnects, the others are untouched", async () => {
    const { server } = await node();
    const proxy = await proxyTo(() => [server.port]);
    const first = await client(proxy.url);
    const second = await client(proxy.url);
    const secondId = second.id;
    let secondDropped = false;
    second.on("disconnect", () => {
      secondDropped = true;
    });
    const dropped = nextEvent<[string]>(first, "disconnect");
    const back = dropped.then(() => nextEvent(first, "connect"));
    expect(proxy.cut((index) => index === 0)).toBe(1);
    expect(["transport close", "transport error"]).toContain((await dropped)[0]);
    await back;
    expect(await first.timeout(5_000).emitWithAck("echo", 1)).toBe(1);
    expect(await second.timeout(5_000).emitWithAck("echo", 2)).toBe(2);
    expect(second.id).toBe(secondId);
    expect(secondDropped).toBe(false);
    expect(proxy.connections()).toBe(2);
    expect(proxy.stats().cut).toBe(1);
  });

  it("failover: when the first upstream refuses, connections go to the next; when none accepts, the client connection is closed", async () => {
    const a = await node();
    const b = await node();
    const proxy = await proxyTo(() => [a.server.port, b.server.port]);
    const socket = await client(proxy.url);
    expect(a.server.io.engine.clientsCount).toBe(1);
    a.server.httpServer.close(); // A refuses new connections; its open one lives on
    const back = nextEvent(socket, "disconnect").then(() => nextEvent(socket, "connect"));
    proxy.cut();
    await back;
    expect(b.server.io.engine.clientsCount).toBe(1);
    expect(proxy.stats().upstreamRefused).toBeGreaterThanOrEqual(1);
    expect(await socket.timeout(5_000).emitWithAck("echo", "on B")).toBe("on B");

    const nowhere = await deadPort();
    const refusing = await proxyTo(() => [nowhere]);
    const raw = connect(refusing.port, "127.0.0.1");
    raw.on("error", () => {});
    await closed(raw);
    expect(refusing.stats()).toMatchObject({ accepted: 1, upstreamRefused: 1 });
    expect(refusing.connections()).toBe(0);
  });

  it("16 MiB bound: a stalled connection holding more is cut; the client reconnects", async () => {
    const { server, numbers } = await node(SLOW_PING);
    const proxy = await proxyTo(() => [server.port]);
    const socket = await client(proxy.url);
    const dropped = nextEvent<[string]>(socket, "disconnect");
    const back = dropped.then(() => nextEvent(socket, "connect"));
    proxy.stall(20_000);
    const megabyte = Buffer.alloc(MiB, 7);
    for (let i = 0; i < 17; i++) socket.emit("n", megabyte);
    await dropped;
    expect(proxy.stats().cut).toBe(1);
    await back;
    expect(await socket.timeout(5_000).emitWithAck("echo", "fresh")).toBe("fresh");
    expect(proxy.connections()).toBe(1);
    expect(numbers).toEqual([]);
  });

  it("an end (FIN) is relayed after the bytes held before it, then the connection is gone", async () => {
    const upstream = createServer((socket) => socket.pipe(socket)).listen(0, "127.0.0.1");
    await once(upstream, "listening");
    cleanups.push(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
    const { port } = upstream.address() as { port: number };
    const proxy = await proxyTo(() => [port]);
    proxy.setToxics({ latencyMs: 50 });
    const raw = connect(proxy.port, "127.0.0.1");
    let echoed = "";
    raw.setEncoding("utf8").on("data", (text: string) => {
      echoed += text;
    });
    await once(raw, "connect");
    raw.end("last words");
    await once(raw, "end");
    expect(echoed).toBe("last words");
    await waitFor(() => proxy.connections() === 0, 5_000, "the relayed connection to close");
    expect(proxy.stats().cut).toBe(0);
  });

  it("close() leaves no timer running, even with bytes held by latency and a stall", async () => {
    const upstream = createServer((socket) => {
      socket.on("error", () => {}); // the proxy's close() resets it
      socket.pipe(socket);
    }).listen(0, "127.0.0.1");
    await once(upstream, "listening");
    cleanups.push(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
    const { port } = upstream.address() as { port: number };
    const proxy = await proxyTo(() => [port]);
    const raw = connect(proxy.port, "127.0.0.1");
    raw.on("error", () => {});
    await once(raw, "connect");
    await waitFor(() => proxy.connections() === 1, 5_000, "the relayed connection");
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    proxy.setToxics({ latencyMs: 60_000 });
    raw.write("held");
    await waitFor(() => timers() > before, 5_000, "a latency timer");
    proxy.stall(60_000);
    await proxy.close();
    expect(timers()).toBe(before);
    await closed(raw);
  });

  it("a slow reader is backpressure, not a cut: 48 MiB reach a paused upstream intact", async () => {
    const TOTAL = 48 * MiB;
    const received = createHash("sha256");
    let receivedBytes = 0;
    let reader: TcpSocket | undefined;
    const upstream = createServer((socket) => {
      reader = socket;
      socket.on("error", () => {});
      socket.pause();
      socket.on("data", (chunk: Buffer) => {
        received.update(chunk);
        receivedBytes += chunk.length;
      });
    }).listen(0, "127.0.0.1");
    await once(upstream, "listening");
    cleanups.push(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
    const { port } = upstream.address() as { port: number };
    const proxy = await proxyTo(() => [port]);
    const writer = connect(proxy.port, "127.0.0.1");
    cleanups.push(() => {
      writer.destroy();
    });
    await once(writer, "connect");
    const sent = createHash("sha256");
    let sentBytes = 0;
    const writing = (async () => {
      while (sentBytes < TOTAL) {
        const chunk = randomBytes(64 * 1024);
        sent.update(chunk);
        sentBytes += chunk.length;
        if (!writer.write(chunk)) await once(writer, "drain");
      }
      writer.end();
    })();
    const stuckAt = await quiescent(() => sentBytes);
    expect(stuckAt).toBeLessThan(TOTAL);
    expect(proxy.stats().cut).toBe(0);
    expect(proxy.connections()).toBe(1);
    reader!.resume();
    await writing;
    await waitFor(() => receivedBytes === TOTAL, 20_000, "every byte upstream");
    expect(received.digest("hex")).toBe(sent.digest("hex"));
    expect(proxy.stats().cut).toBe(0);
  });
});
