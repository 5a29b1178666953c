// Client→server acknowledged messages: how many messages per second a client gets answered.
import { createAssuredClient } from "@assured/client";
import { createAssuredServer } from "@assured/server";
import { startDelayProxy } from "./delay-proxy.js";
import { connectSocket, newSocket, startServer } from "./loopback.js";
import { sendPooled } from "./pool.js";
import type { BenchStores } from "./stores.js";

/**
 * An open server and one connected client; `sendAll` sends `count` messages, at most `inFlight`
 * unanswered at a time, and resolves when every one was answered.
 */
export interface MessageRig {
  sendAll(count: number, inFlight: number): Promise<void>;
  close(): Promise<void>;
}

/** A system under test for client→server messages. */
export interface MessageSystem {
  key: string;
  label: string;
  /** Starts a server and a connected client; with `oneWayDelayMs`, through a delay proxy. */
  open(link?: Link): Promise<MessageRig>;
}

/** The network between client and server: loopback, or loopback with added one-way delay. */
export interface Link {
  oneWayDelayMs: number;
}

/** The URL a client should use: the server's, or a delay proxy's in front of it. */
async function clientUrl(
  serverUrl: string,
  link: Link | undefined,
): Promise<{ url: string; close(): Promise<void> }> {
  if (!link || link.oneWayDelayMs === 0) return { url: serverUrl, close: async () => {} };
  return startDelayProxy(serverUrl, link.oneWayDelayMs);
}

const MESSAGE = "msg";
const ACK_TIMEOUT_MS = 30_000;

function message(i: number) {
  return { i, text: "a message from the client, as a chat app would send" };
}

/**
 * socket.io-client `emitWithAck`. Without `retries`, every message is sent at once and nothing
 * is resent if the connection drops. With `retries`, the client queues messages and sends the
 * next only after the previous one was acknowledged (and resends on `ackTimeout`).
 */
export function socketIoAcks(retries: boolean): MessageSystem {
  return {
    key: retries ? "socketio-retries" : "socketio",
    label: retries
      ? `Socket.IO \`retries: 3, ackTimeout\` + emitWithAck`
      : "Socket.IO emitWithAck (plain)",
    async open(link) {
      const server = await startServer();
      server.io.on("connection", (socket) => {
        socket.on(MESSAGE, (_data: unknown, ack: (reply: unknown) => void) => ack({ ok: true }));
      });
      const route = await clientUrl(server.url, link);
      const socket = newSocket(
        route.url,
        retries ? { retries: 3, ackTimeout: ACK_TIMEOUT_MS } : {},
      );
      await connectSocket(socket);
      return {
        sendAll: (count, inFlight) =>
          sendPooled(count, inFlight, (i) => socket.emitWithAck(MESSAGE, message(i))),
        async close() {
          socket.disconnect();
          await route.close();
          await server.close();
        },
      };
    },
  };
}

/**
 * Assured `client.emit`: each message is written to the outbox, sent in the client's default
 * window (128 in flight), claimed in the dedup store, handled, its result stored, then acknowledged. The
 * server's per-socket rate limit (500 tokens/s by default, a message costing 3; a protection
 * against floods) is raised so that it is not what gets measured.
 */
export function assuredMessages(stores: BenchStores): MessageSystem {
  return {
    key: `assured-${stores.kind}`,
    label: `Assured client.emit, ${stores.kind} store`,
    async open(link) {
      const server = await startServer();
      const assured = createAssuredServer(server.io, {
        store: stores.eventStore,
        dedupStore: stores.dedupStore,
        // One client sends tens of thousands of messages: a bulk sender, whose dedup quota is
        // raised as docs/security.md advises.
        limits: {
          tokensPerSecond: 1_000_000,
          burstTokens: 1_000_000,
          maxDedupEntriesPerPrincipal: 10_000_000,
        },
      });
      assured.on(MESSAGE, () => ({ ok: true }));
      const route = await clientUrl(server.url, link);
      const socket = newSocket(route.url);
      const client = createAssuredClient(socket, { ackTimeoutMs: ACK_TIMEOUT_MS });
      const connected = new Promise((resolve) => socket.once("connect", () => resolve(undefined)));
      await client.connect();
      await connected;
      return {
        sendAll: (count, inFlight) =>
          sendPooled(count, inFlight, (i) => client.emit(MESSAGE, message(i))),
        async close() {
          await client.close();
          await route.close();
          await assured.close();
          await server.close();
        },
      };
    },
  };
}
