// Socket.IO servers and clients on 127.0.0.1, each server on a free port, WebSocket transport
// only (no long-polling upgrade), so every system is measured over the same kind of socket.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server, type ServerOptions } from "socket.io";
import {
  io as connect,
  type ManagerOptions,
  type Socket,
  type SocketOptions,
} from "socket.io-client";

/** A Socket.IO server listening on a free loopback port. */
export interface LoopbackServer {
  io: Server;
  url: string;
  /** Disconnects every socket and closes the HTTP server. */
  close(): Promise<void>;
}

/** Starts a Socket.IO server on a free loopback port. */
export async function startServer(options: Partial<ServerOptions> = {}): Promise<LoopbackServer> {
  const http = createServer();
  const io = new Server(http, { transports: ["websocket"], ...options });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  return {
    io,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => io.close(() => resolve())),
  };
}

/** Client options every benchmark uses: a private WebSocket connection, no automatic reconnect. */
export function clientOptions(
  extra: Partial<ManagerOptions & SocketOptions> = {},
): Partial<ManagerOptions & SocketOptions> {
  return { transports: ["websocket"], forceNew: true, reconnection: false, ...extra };
}

/** A socket.io-client socket that is not connected yet (`autoConnect: false`). */
export function newSocket(
  url: string,
  extra: Partial<ManagerOptions & SocketOptions> = {},
): Socket {
  return connect(url, clientOptions({ autoConnect: false, ...extra }));
}

/** Connects a socket created with `newSocket` and resolves once it is connected. */
export function connectSocket(socket: Socket): Promise<Socket> {
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
    socket.connect();
  });
}

/**
 * Drops a client's connection the way a network failure does: the transport closes without a
 * Socket.IO disconnect packet, so the server keeps a connection-state-recovery session.
 */
export function dropTransport(socket: Socket): void {
  socket.io.engine.close();
}
