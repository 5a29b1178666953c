// Catch-up: how long a client that missed `missed` events takes to have handled all of them
// after it reconnects. Socket.IO's connection state recovery against Assured's replay.
import { createAssuredClient } from "@assured/client";
import { newId } from "@assured/core/store";
import { createAssuredServer } from "@assured/server";
import type { Socket as ServerSocket } from "socket.io";
import { type BenchEvent, benchEvent } from "./bench-event.js";
import { countdown, settleWithin } from "./countdown.js";
import type { ClientStorageKind } from "./live-rigs.js";
import { connectSocket, dropTransport, newSocket, startServer } from "./loopback.js";
import { memoryWebStorage } from "./memory-web-storage.js";
import type { BenchStores } from "./stores.js";

/** One way of catching up: runs one complete scenario and returns the catch-up time in ms. */
export interface CatchUpSystem {
  key: string;
  label: string;
  /**
   * Connect, receive one event, drop the connection, miss `missed` events, reconnect: ms to the
   * last. Rejects if the catch-up takes longer than `timeoutMs`.
   */
  run(missed: number, timeoutMs: number): Promise<number>;
}

const ROOM = "bench";
const EVENT = "event";
/** How long closing may take (a stuck store must not hang the run). */
const CLOSE_TIMEOUT_MS = 10_000;
/** Time allowed for the setup steps (first event, disconnect). */
const TIMEOUT_MS = 30_000;
/** Replay page size and window for the catch-up (defaults: 500 and 4). */
const REPLAY = { batchSize: 2_000, window: 4 };
/** Events published per awaited chunk while the client is away (below `maxPendingPublishes`). */
const PUBLISH_CHUNK = 1_000;

/**
 * Socket.IO with `connectionStateRecovery`: the server keeps every broadcast packet; on
 * reconnect the client sends its session id and last offset and the server re-sends the packets
 * it missed, one Socket.IO packet per event.
 */
export function socketIoRecovery(): CatchUpSystem {
  return {
    key: "socketio-csr",
    label: "Socket.IO connectionStateRecovery",
    async run(missed, timeoutMs) {
      const server = await startServer({
        connectionStateRecovery: { maxDisconnectionDuration: 10 * 60_000 },
      });
      let serverSocket: ServerSocket | undefined;
      server.io.on("connection", (socket) => {
        socket.join(ROOM);
        serverSocket = socket;
      });
      const socket = newSocket(server.url);
      let sink: (event: BenchEvent) => void = () => {};
      socket.on(EVENT, (event: BenchEvent) => sink(event));
      try {
        await connectSocket(socket);
        const first = countdown(1, TIMEOUT_MS, "first event");
        sink = () => first.tick();
        server.io.to(ROOM).emit(EVENT, benchEvent(0));
        await first.done; // the client now holds an offset to recover from
        const gone = new Promise((resolve) => serverSocket!.once("disconnect", resolve));
        dropTransport(socket);
        await gone;
        for (let seq = 1; seq <= missed; seq++) server.io.to(ROOM).emit(EVENT, benchEvent(seq));
        const caughtUp = countdown(missed, timeoutMs, "Socket.IO recovery");
        sink = () => caughtUp.tick();
        const start = performance.now();
        await connectSocket(socket);
        if (!socket.recovered) throw new Error("Socket.IO did not recover the session");
        await caughtUp.done;
        return performance.now() - start;
      } finally {
        socket.disconnect();
        await settleWithin(server.close(), CLOSE_TIMEOUT_MS);
      }
    },
  };
}

/**
 * Assured on `stores`: the client's position rides in the reconnect handshake; the subscribe
 * reply carries the first page and the client pulls the rest, one fetch of `batchSize` records
 * outstanding at a time (protocol v2). The replay cap is raised above `missed`, and pages are
 * made larger than the defaults on both sides.
 */
export function assuredReplay(
  stores: BenchStores,
  clientStorage: ClientStorageKind = "memory",
  replay: { batchSize: number; window: number } = REPLAY,
  /** Called as the timed catch-up starts and ends (a profiler records only that span). */
  onCatchUp?: (phase: "start" | "end") => Promise<void>,
): CatchUpSystem {
  const web = clientStorage === "web";
  return {
    key: `assured-${stores.kind}${web ? "-web" : ""}`,
    label: `Assured replay, ${stores.kind} store${web ? ", web storage client" : ""}`,
    async run(missed, timeoutMs) {
      const stream = `bench-catch-up-${newId()}`;
      const server = await startServer();
      const assured = createAssuredServer(server.io, {
        store: stores.eventStore,
        dedupStore: stores.dedupStore,
        limits: {
          replayLimit: missed + 1,
          // Protocol v2: the client pulls pages of at most fetchLimit records (one outstanding).
          fetchLimit: replay.batchSize,
        },
      });
      let serverSocket: ServerSocket | undefined;
      server.io.on("connection", (socket) => {
        serverSocket = socket;
      });
      const socket = newSocket(server.url);
      const client = createAssuredClient(socket, {
        maxBufferedEvents: 2 * replay.batchSize * replay.window,
        // The client asks for pages of its own fetchLimit (default 500): as large as the server's.
        fetchLimit: replay.batchSize,
        ...(web ? { storage: memoryWebStorage() } : {}),
      });
      let sink: (event: BenchEvent) => void = () => {};
      client.on<BenchEvent>(EVENT, (event) => sink(event));
      const outcomes: { recovered: boolean; reason?: string }[] = [];
      client.onRecovery((outcome) => outcomes.push(outcome));
      try {
        const first = countdown(1, TIMEOUT_MS, "first event");
        sink = () => first.tick();
        client.subscribe(stream, { from: "earliest" });
        await client.connect();
        await assured.publish(stream, EVENT, benchEvent(0));
        await first.done; // the client's position is now offset 1
        const gone = new Promise((resolve) => serverSocket!.once("disconnect", resolve));
        dropTransport(socket);
        await gone;
        for (let seq = 1; seq <= missed; seq += PUBLISH_CHUNK) {
          const chunk: Promise<unknown>[] = [];
          for (let i = seq; i < Math.min(missed + 1, seq + PUBLISH_CHUNK); i++) {
            chunk.push(assured.publish(stream, EVENT, benchEvent(i)));
          }
          await Promise.all(chunk);
        }
        const caughtUp = countdown(missed, timeoutMs, "Assured replay");
        sink = () => caughtUp.tick();
        outcomes.length = 0;
        await onCatchUp?.("start");
        const start = performance.now();
        await connectSocket(socket);
        await caughtUp.done;
        const elapsed = performance.now() - start;
        await onCatchUp?.("end");
        const outcome = outcomes[0];
        if (!outcome?.recovered) {
          throw new Error(`Assured did not recover: ${outcome?.reason ?? "no outcome"}`);
        }
        return elapsed;
      } finally {
        await settleWithin(client.close(), CLOSE_TIMEOUT_MS);
        await settleWithin(assured.close(), CLOSE_TIMEOUT_MS);
        await settleWithin(server.close(), CLOSE_TIMEOUT_MS);
      }
    },
  };
}
