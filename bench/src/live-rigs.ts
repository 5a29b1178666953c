// One "rig" per system for the live scenarios: a server with N connected, subscribed clients,
// and a `publish` that sends one event to all of them through the system's normal path.
import { createAssuredClient } from "@assured/client";
import { newId } from "@assured/core/store";
import { createAssuredServer } from "@assured/server";
import type { Socket } from "socket.io-client";
import type { BenchEvent } from "./bench-event.js";
import { connectSocket, type LoopbackServer, newSocket, startServer } from "./loopback.js";
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

/** Assured on `stores`: clients subscribe to one stream; `assured.publish` sends to it. */
export function assuredSystem(stores: BenchStores): LiveSystem {
  return {
    key: `assured-${stores.kind}`,
    label: `Assured, ${stores.kind} store`,
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
          const client = createAssuredClient(socket);
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
