import { FRAMES } from "@assured/core/protocol";
import type { Socket as ServerSocket } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import { assuredAuth, type Peer, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

interface EngineConn {
  writeBuffer: { data?: unknown }[];
  transport: { socket?: { bufferedAmount?: number } };
  on(event: "packetCreate", listener: (packet: { data?: unknown }) => void): void;
}

/** The server side of a peer. */
function serverSocketOf(started: Started, peer: Peer): ServerSocket {
  const clientId = (peer.socket.auth as ReturnType<typeof assuredAuth>).assured.clientId;
  const socket = [...started.io.sockets.sockets.values()].find(
    (s) => s.handshake.auth.assured.clientId === clientId,
  );
  if (socket === undefined) throw new Error("no server socket for the peer");
  return socket;
}

/** The peer stops reading its TCP connection: the server's kernel buffers fill, then Socket.IO's. */
function stopReading(peer: Peer): void {
  const transport = peer.socket.io.engine.transport as unknown as {
    ws: { _socket: { pause(): void } };
  };
  transport.ws._socket.pause();
}

/**
 * The most a connection held unsent when a packet was queued: packets in engine.io's write buffer
 * and their bytes (string length, binary byte length) plus the WebSocket's `bufferedAmount`.
 */
function watchBacklog(socket: ServerSocket) {
  const conn = socket.conn as unknown as EngineConn;
  const seen = { packets: 0, bytes: 0 };
  conn.on("packetCreate", (packet) => {
    const buffered = [...conn.writeBuffer, packet].reduce((sum, p) => sum + sizeOf(p.data), 0);
    seen.packets = Math.max(seen.packets, conn.writeBuffer.length + 1);
    seen.bytes = Math.max(seen.bytes, buffered + (conn.transport.socket?.bufferedAmount ?? 0));
  });
  return seen;
}

function sizeOf(data: unknown): number {
  if (typeof data === "string") return data.length;
  if (ArrayBuffer.isView(data) || data instanceof ArrayBuffer) return data.byteLength;
  return 0;
}

async function stalledAndHealthy(started: Started) {
  const sub = [{ stream: "s", position: null, from: "head" }];
  const stalled = await started.connect(assuredAuth(sub));
  const healthy = await started.connect(assuredAuth(sub));
  await stalled.next(FRAMES.subscribed);
  await healthy.next(FRAMES.subscribed);
  const stalledOnServer = serverSocketOf(started, stalled);
  const closed = new Promise<string>((resolve) =>
    stalledOnServer.once("disconnect", (reason) => resolve(reason)),
  );
  let disconnected = false;
  stalledOnServer.once("disconnect", () => {
    disconnected = true;
  });
  const backlog = watchBacklog(stalledOnServer);
  stopReading(stalled);
  return { healthy, closed, backlog, isDisconnected: () => disconnected };
}

describe("backlog of a client that stopped reading", () => {
  it("G11: a connection whose unsent packets pass maxSocketBacklog is closed at once; other clients keep receiving", async () => {
    server = await startAssured({ limits: { maxSocketBacklog: 20 } });
    const { healthy, closed, backlog, isDisconnected } = await stalledAndHealthy(server);
    const payload = "x".repeat(16 * 1024);
    let published = 0;
    // Each publish is two packets per subscriber (the batch and its binary attachment).
    for (; !isDisconnected() && published < 5_000; published++) {
      await server.assured.publish("s", "e", payload);
    }
    expect(await closed).toBe("forced close");
    // Checked as each packet is queued, not once a second: closed at the first one past the limit.
    expect(backlog.packets).toBeGreaterThan(20);
    expect(backlog.packets).toBeLessThanOrEqual(22);
    await healthy.until(() => healthy.offsets("s").length >= published, 10_000);
    expect(healthy.socket.connected).toBe(true);
  });

  it("G11: a connection whose unsent bytes pass maxSocketBacklogBytes is closed at once; other clients keep receiving", async () => {
    const limit = 1024 * 1024;
    server = await startAssured({
      limits: {
        maxBatchBytes: 256 * 1024,
        maxSocketReplayBytes: 512 * 1024,
        maxSocketBacklogBytes: limit,
      },
    });
    const { healthy, closed, backlog, isDisconnected } = await stalledAndHealthy(server);
    const event = new Uint8Array(64 * 1024);
    let published = 0;
    // 64 MiB if nothing stopped it: far below the packet limit (10,000), far above the bytes one.
    for (; !isDisconnected() && published < 1_000; published++) {
      await server.assured.publish("s", "e", event);
    }
    expect(await closed).toBe("forced close");
    expect(published).toBeLessThan(1_000);
    // At most one batch beyond the limit was ever queued for it.
    expect(backlog.bytes).toBeGreaterThan(limit);
    expect(backlog.bytes).toBeLessThanOrEqual(limit + 65 * 1024);
    await healthy.until(() => healthy.offsets("s").length >= published, 10_000);
    expect(healthy.socket.connected).toBe(true);
  });

  it("G11: a client that leaves without reading has its unsent bytes dropped at once, not after a close handshake", async () => {
    server = await startAssured();
    const sub = [{ stream: "s", position: null, from: "head" }];
    const stalled = await server.connect(assuredAuth(sub));
    await stalled.next(FRAMES.subscribed);
    const onServer = serverSocketOf(server, stalled);
    const ws = (onServer.conn as unknown as { transport: { socket: RawWebSocket } }).transport
      .socket;
    stopReading(stalled);
    // Below every limit, but more than the kernel takes: the server's WebSocket holds the rest.
    const event = new Uint8Array(256 * 1024);
    for (let i = 0; i < 64 && ws.bufferedAmount === 0; i++) {
      await server.assured.publish("s", "e", event);
    }
    expect(ws.bufferedAmount).toBeGreaterThan(0);
    const gone = new Promise<string>((resolve) => onServer.once("disconnect", resolve));
    stalled.socket.disconnect();
    expect(await gone).toBe("client namespace disconnect");
    // Destroyed now; a close handshake would keep the buffers for ws's 30 s close timeout.
    await until(() => ws.readyState === 3, "the WebSocket to be destroyed", 5_000);
    expect(ws.bufferedAmount).toBe(0);
  });
});

interface RawWebSocket {
  bufferedAmount: number;
  readyState: number;
}

/** Polls a condition of the server's state (a client that does not read gets no frame to wait for). */
async function until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
