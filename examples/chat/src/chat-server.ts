import { mkdirSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { AssuredError } from "@assured/core";
import { createAssuredServer } from "@assured/server";
import { createSqliteStores } from "@assured/store-sqlite";
import { Server } from "socket.io";
import { type BrowserAssets, buildBrowserAssets } from "./browser-assets.js";
import {
  type ChatEvents,
  type ChatMessages,
  checkChatSend,
  pageEventId,
  roomStream,
} from "./chat-protocol.js";
import { handlePublishRoute, PUBLISH_ROUTE, type PublishToRoom } from "./publish-route.js";

/** Options of `startChatServer`. */
export interface ChatServerOptions {
  /** The SQLite file that keeps every room's messages (created if missing). */
  dbPath: string;
  /** TCP port; 0 picks a free one. Default 3000. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /**
   * How long a `chat:send` that was running when the server died blocks its resend before
   * running again. The handler only publishes, so a few seconds is plenty. Default 5,000 ms.
   */
  leaseMs?: number;
}

/** A running chat server. */
export interface ChatServer {
  /** Where the page is served, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** Closes Socket.IO (and the HTTP server), waits for running handlers, closes the stores. */
  close(): Promise<void>;
}

/**
 * Starts the chat: the page, the client bundle and Socket.IO on one HTTP server, Assured on
 * top with the SQLite store. Rooms are streams `room:<name>`; `chat:send` messages are handled
 * once each and published to their room.
 *
 * @example
 * const chat = await startChatServer({ dbPath: ".data/chat.sqlite", port: 3000 });
 * console.log(chat.url);
 */
export async function startChatServer(options: ChatServerOptions): Promise<ChatServer> {
  const assets = await buildBrowserAssets();
  mkdirSync(dirname(options.dbPath), { recursive: true });
  const stores = createSqliteStores({ path: options.dbPath });

  const http = createServer((request, response) => route(request, response, assets, publish));
  const io = new Server(http, { serveClient: false });
  const assured = createAssuredServer<ChatMessages, ChatEvents>(io, {
    store: stores.eventStore,
    dedupStore: stores.dedupStore,
    limits: { leaseMs: options.leaseMs ?? 5_000 },
  });

  assured.on("chat:send", async (data, { principal, id }) => {
    const checked = checkChatSend(data);
    if (!checked.ok) throw new AssuredError("INVALID_ARGUMENT", checked.problem);
    const { room, author, text } = checked.value;
    const { offset } = await assured.publish(
      roomStream(room),
      "chat:message",
      { author, text, via: "page" },
      { id: pageEventId(principal, id) },
    );
    return { offset };
  });

  const publish: PublishToRoom = async (room, { author, text }, eventId) => {
    const { offset, duplicate } = await assured.publish(
      roomStream(room),
      "chat:message",
      { author, text, via: "api" },
      eventId === undefined ? {} : { id: eventId },
    );
    return { offset, duplicate };
  };

  try {
    await listen(http, options.port ?? 3000, options.host ?? "127.0.0.1");
  } catch (error) {
    await assured.close();
    io.close();
    await stores.close();
    throw error;
  }
  const { address, port } = http.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    close() {
      closing ??= (async () => {
        await assured.close();
        const closed = io.close();
        http.closeAllConnections();
        await closed;
        await stores.close();
      })();
      return closing;
    },
  };
}

function route(
  request: IncomingMessage,
  response: ServerResponse,
  assets: BrowserAssets,
  publish: PublishToRoom,
): void {
  const path = new URL(request.url ?? "/", "http://localhost").pathname;
  const publishMatch = PUBLISH_ROUTE.exec(path);
  const asset = assets.get(path);
  if (publishMatch && request.method === "POST") {
    void handlePublishRoute(request, response, publishMatch[1]!, publish);
  } else if (publishMatch) {
    sendStatus(response, 405, "use POST");
  } else if (!asset) {
    sendStatus(response, 404, "not found");
  } else if (request.method !== "GET" && request.method !== "HEAD") {
    sendStatus(response, 405, "use GET");
  } else {
    response.writeHead(200, {
      "content-type": asset.contentType,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
    });
    response.end(request.method === "HEAD" ? undefined : asset.body);
  }
}

function sendStatus(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  response.end(`${text}\n`);
}

function listen(http: ReturnType<typeof createServer>, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, host, () => {
      http.off("error", reject);
      resolve();
    });
  });
}
