import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { MemoryDedupStore, MemoryEventStore } from "@assured/core";
import {
  type AssuredServer,
  type AssuredServerOptions,
  createAssuredServer,
} from "@assured/server";
import { Server, type ServerOptions } from "socket.io";

/** Options of `startSocketServer`. */
export interface SocketServerOptions extends Partial<AssuredServerOptions> {
  /** Port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Options of the Socket.IO `Server`. */
  serverOptions?: Partial<ServerOptions>;
  /** Called before the server listens: register handlers, publish while nobody can connect. */
  beforeListen?: (assured: AssuredServer, io: Server) => void | Promise<void>;
}

/** A real Socket.IO 4 server on loopback with Assured attached. */
export interface RunningSocketServer {
  readonly io: Server;
  readonly assured: AssuredServer;
  readonly httpServer: HttpServer;
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Closes Assured, every socket and the HTTP server. The stores stay open. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a Socket.IO server with Assured on 127.0.0.1. Stores default to fresh memory stores;
 * pass your own to keep them across a restart.
 *
 * @example
 * const server = await startSocketServer({ store, dedupStore });
 * await server.assured.publish("room", "e", 1);
 * await server.close();
 */
export async function startSocketServer(
  options: SocketServerOptions = {},
): Promise<RunningSocketServer> {
  const { port = 0, serverOptions, beforeListen, ...assuredOptions } = options;
  const httpServer = createServer();
  const io = new Server(httpServer, serverOptions);
  const assured = createAssuredServer(io, {
    ...assuredOptions,
    store: assuredOptions.store ?? new MemoryEventStore(),
    dedupStore: assuredOptions.dedupStore ?? new MemoryDedupStore(),
  });
  await beforeListen?.(assured, io);
  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(port, "127.0.0.1", () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  const bound = (httpServer.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    io,
    assured,
    httpServer,
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    close() {
      closing ??= (async () => {
        io.disconnectSockets(true);
        await assured.close();
        await new Promise<void>((resolve) => io.close(() => resolve()));
        httpServer.closeAllConnections();
      })();
      return closing;
    },
  };
}
