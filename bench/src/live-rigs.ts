// One "rig" per system for the live scenarios: a server with N connected, subscribed clients,
// and a `publish` that sends one event to all of them through the system's normal path.
import { createAssuredClient } from "@assured/client";
import { newId } from "@assured/core/store";
import { createAssuredServer } from "@assured/server";
import type { Socket } from "socket.io-client";
import type { BenchEvent } from "./bench-event.js";
import { connectSocket, type LoopbackServer, newSocket, startServer } from "./loopback.js";
import { memoryWebStorage } from "./memory-web-storage.js";
import type { BenchStores } from "./stores.js";

/** A server and its clients, all connected and subscribed. */
export interface LiveRig {
  /**
   * Sends one event to every client. Returns the system's confirmation when it has one
   * (Assured: resolves once stored and emitted), else undefined.
   */
  publish(event: BenchEvent): Promise<unknown> | undefined;
  close(): Promise<void>;
}

/** A system under test for live delivery. */
export interface LiveSystem {
  key: string;
  label: string;
  /** Starts a server with `clients` subscribed clients; every delivery calls `onEvent`. */
  open(clients: number, onEvent: (event: BenchEvent) => void): Promise<LiveRig>;
}

const ROOM = "bench";
const EVENT = "event";

/** Plain Socket.IO, optionally with connection state recovery: `io.to(room).emit`. */
export function socketIoSystem(recovery: boolean): LiveSystem {
  return {
    key: recovery ? "socketio-csr" : "socketio",
    label: recovery ? "Socket.IO + connectionStateRecovery" : "Socket.IO (plain)",
    async open(clients, onEvent) {
      const server = await startServer(
        recovery ? { connectionStateRecovery: { maxDisconnectionDuration: 120_000 } } : {},
      );
      server.io.on("connection", (socket) => socket.join(ROOM));
      const sockets: Socket[] = [];
      try {
        for (let i = 0; i < clients; i++) {
          const socket = newSocket(server.url);
          sockets.push(socket);
          socket.on(EVENT, (event: BenchEvent) => onEvent(event));
          await connectSocket(socket);
        }
      } catch (error) {
        await closeAll(server, sockets);
        throw error;
      }
      return {
        publish(event) {
          server.io.to(ROOM).emit(EVENT, event);
          return undefined;
        },
        close: () => closeAll(server, sockets),
      };
    },
  };
}

/**
 * Plain Socket.IO whose publisher sends all events of one event-loop turn in one emit (an
 * array), flushed in a microtask after the turn's first publish: the batching an application
 * can do by hand, so that Assured's per-turn batches are not credited as protocol efficiency.
 */
export function socketIoBatchedSystem(): LiveSystem {
  return {
    key: "socketio-batched",
    label: "Socket.IO batched per turn (plain)",
    async open(clients, onEvent) {
      const server = await startServer();
      server.io.on("connection", (socket) => socket.join(ROOM));
      const sockets: Socket[] = [];
      try {
        for (let i = 0; i < clients; i++) {
          const socket = newSocket(server.url);
          sockets.push(socket);
          socket.on(EVENT, (events: BenchEvent[]) => {
            for (const event of events) onEvent(event);
          });
          await connectSocket(socket);
        }
      } catch (error) {
        await closeAll(server, sockets);
        throw error;
      }
      let pending: BenchEvent[] = [];
      const flush = () => {
        const events = pending;
        pending = [];
        server.io.to(ROOM).emit(EVENT, events);
      };
      return {
        publish(event) {
          if (pending.length === 0) queueMicrotask(flush);
          pending.push(event);
          return undefined;
        },
        close: () => closeAll(server, sockets),
      };
    },
  };
}

/** Which client storage Assured's bench clients use. */
export type ClientStorageKind = "memory" | "web";

/**
 * Assured on `stores`: clients subscribe to one stream; `assured.publish` sends to it. With
 * `clientStorage: "web"` every client persists its positions in the localStorage format
 * (`webStorage()` on an in-memory Storage object) instead of the default memory storage.
 */
export function assuredSystem(
  stores: BenchStores,
  clientStorage: ClientStorageKind = "memory",
): LiveSystem {
  const web = clientStorage === "web";
  return {
    key: `assured-${stores.kind}${web ? "-web" : ""}`,
    label: `Assured, ${stores.kind} store${web ? ", web storage clients" : ""}`,
    async open(clients, onEvent) {
      const stream = `bench-live-${newId()}`;
      const server = await startServer();
      const assured = createAssuredServer(server.io, {
        store: stores.eventStore,
        dedupStore: stores.dedupStore,
      });
      const assuredClients: ReturnType<typeof createAssuredClient>[] = [];
      const sockets: Socket[] = [];
      try {
        for (let i = 0; i < clients; i++) {
          const socket = newSocket(server.url);
          sockets.push(socket);
          const client = createAssuredClient(socket, web ? { storage: memoryWebStorage() } : {});
          assuredClients.push(client);
          client.on<BenchEvent>(EVENT, (event) => onEvent(event));
          const subscribed = new Promise<void>((resolve) => {
            const stop = client.onRecovery((outcome) => {
              if (outcome.stream === stream) {
                stop();
                resolve();
              }
            });
          });
          client.subscribe(stream, { from: "head" });
          await client.connect();
          await subscribed;
        }
      } catch (error) {
        await Promise.all(assuredClients.map((c) => c.close()));
        await assured.close();
        await closeAll(server, sockets);
        throw error;
      }
      return {
        publish: (event) => assured.publish(stream, EVENT, event),
        async close() {
          await Promise.all(assuredClients.map((c) => c.close()));
          await assured.close();
          await closeAll(server, sockets);
        },
      };
    },
  };
}

async function closeAll(server: LoopbackServer, sockets: Socket[]): Promise<void> {
  for (const socket of sockets) socket.disconnect();
  await server.close();
}
