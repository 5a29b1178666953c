import {
  type AssuredClient,
  type AssuredClientOptions,
  createAssuredClient,
} from "@assured/client";
import { encode, MemoryDedupStore, MemoryEventStore } from "@assured/core";
import { PROTOCOL_VERSION } from "@assured/core/protocol";
import { type EventStore, newId } from "@assured/core/store";
import { io as connectClient, type Socket } from "socket.io-client";
import { afterEach } from "vitest";
import { RawPeer } from "../../src/raw-peer.js";
import { type SocketServerOptions, startSocketServer } from "../../src/socket-server.js";

export { range } from "../client/harness.js";

/**
 * `startSocketServer` with its stores at hand (fresh memory stores unless given) and
 * `connect(auth)` for raw peers, which `close()` disconnects before closing the server.
 */
export async function startAssured(options: SocketServerOptions = {}) {
  const store = options.store ?? new MemoryEventStore();
  const dedupStore = options.dedupStore ?? new MemoryDedupStore();
  const server = await startSocketServer({ ...options, store, dedupStore });
  const peers: RawPeer[] = [];
  return {
    ...server,
    store,
    dedupStore,
    /** Connects a raw peer with the given `auth`. */
    connect(auth?: Record<string, unknown>): Promise<RawPeer> {
      const peer = new RawPeer(server.url, auth);
      peers.push(peer);
      return peer.connect();
    },
    async close(): Promise<void> {
      for (const peer of peers) peer.close();
      await server.close();
    },
  };
}

/** `auth` for a handshake with Assured's fields. */
export function assuredAuth(subscriptions: unknown[] = [], clientId = newId()) {
  return { assured: { v: PROTOCOL_VERSION, clientId, subscriptions } };
}

/** Appends `count` events (payloads 1, 2, …, `count`) to a stream directly in the store. */
export async function seed(store: EventStore, stream: string, count: number, name = "e") {
  for (let from = 1; from <= count; from += 1000) {
    const to = Math.min(count, from + 999);
    const entries = [];
    for (let n = from; n <= to; n++) entries.push({ name, payload: encode(n) });
    await store.append(stream, entries);
  }
}

/**
 * A test file's server and Assured clients: `client(url, options)` makes a client on a socket of
 * its own (not connected yet); after each test every client is closed, then the server.
 */
export function useServerAndClients() {
  let server: Awaited<ReturnType<typeof startAssured>> | undefined;
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
    await server?.close();
    server = undefined;
  });
  return {
    /** Starts the test's server (closed after the test). */
    async start(options: SocketServerOptions = {}) {
      server = await startAssured(options);
      return server;
    },
    /** Runs `cleanup` after the test, in order with the clients' closing (each in the order added). */
    after(cleanup: () => Promise<void> | void): void {
      cleanups.push(cleanup);
    },
    client(
      url: string,
      options: AssuredClientOptions = {},
    ): { socket: Socket; assured: AssuredClient } {
      const socket = connectClient(url, {
        autoConnect: false,
        transports: ["websocket"],
        forceNew: true,
        reconnectionDelay: 1,
        reconnectionDelayMax: 10,
      });
      const assured = createAssuredClient(socket, options);
      cleanups.push(() => assured.close());
      cleanups.push(() => void socket.disconnect());
      return { socket, assured };
    },
  };
}
