import { connect, createServer, type Socket } from "node:net";

/** Bytes of a connection kept to find a marker split across two chunks. */
const TAIL_BYTES = 4_096;

/** A running `startCutProxy`. */
export interface CutProxy {
  /** The URL clients connect to instead of the server's. */
  url: string;
  /** Resolves once the marked command has passed. */
  cut: Promise<void>;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of a Mongo-wire server (`targetUrl`, `mongodb://host:port/`) that freezes
 * its clients at one command: once a client has sent bytes holding every marker (a collection
 * name, a string value), those bytes still reach the server, and its answer the client, but
 * nothing any client sends afterwards does. The process behind it then stands right after that
 * command, as if killed there; kill it for real and the server holds what such a crash leaves.
 */
export async function startCutProxy(targetUrl: string, markers: string[]): Promise<CutProxy> {
  const target = new URL(targetUrl);
  const needles = markers.map((marker) => Buffer.from(marker, "utf8"));
  const sockets = new Set<Socket>();
  let frozen = false;
  let onCut!: () => void;
  const cut = new Promise<void>((resolve) => {
    onCut = resolve;
  });
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    let tail = Buffer.alloc(0);
    client.on("data", (chunk: Buffer) => {
      if (frozen) return;
      const seen = Buffer.concat([tail, chunk]);
      tail = seen.subarray(Math.max(0, seen.length - TAIL_BYTES));
      upstream.write(chunk);
      if (needles.every((needle) => seen.includes(needle))) {
        frozen = true;
        onCut();
      }
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(socket);
      socket.on("error", () => other.destroy());
      socket.on("close", () => {
        sockets.delete(socket);
        other.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the proxy has no port");
  return {
    url: `mongodb://127.0.0.1:${address.port}/?directConnection=true`,
    cut,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
