// A TCP proxy on loopback that delays every chunk in each direction: a network round trip of
// 2 × `oneWayMs` between a client and a server that share one machine.

import type { AddressInfo } from "node:net";
import { connect, createServer, type Socket } from "node:net";

/** A running delay proxy: connect clients to `url` instead of the server's. */
export interface DelayProxy {
  url: string;
  close(): Promise<void>;
}

/**
 * Forwards connections to `targetUrl` (an `http://127.0.0.1:port` URL), delaying each chunk by
 * `oneWayMs` in both directions. Chunks keep their order (timers of equal delay fire in order).
 * There is no flow control: the benchmarks push a fixed, small amount of data through it.
 */
export async function startDelayProxy(targetUrl: string, oneWayMs: number): Promise<DelayProxy> {
  const target = new URL(targetUrl);
  const open = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname);
    for (const socket of [inbound, outbound]) {
      open.add(socket);
      socket.setNoDelay(true);
      socket.on("close", () => open.delete(socket));
    }
    forward(inbound, outbound, oneWayMs);
    forward(outbound, inbound, oneWayMs);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function forward(from: Socket, to: Socket, delayMs: number): void {
  from.on("data", (chunk) => {
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk);
    }, delayMs);
  });
  from.on("end", () => setTimeout(() => to.end(), delayMs));
  from.on("error", () => to.destroy());
  from.on("close", () => setTimeout(() => to.destroy(), delayMs));
}
