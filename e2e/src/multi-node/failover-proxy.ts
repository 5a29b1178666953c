import { createConnection, createServer, type Server, type Socket } from "node:net";

/** Bytes held per connection while frozen; beyond it the connection is cut. */
const MAX_HELD_BYTES = 16 * 1024 * 1024;

/** One client connection relayed to an upstream server. */
interface Relay {
  readonly downstream: Socket;
  readonly upstream: Socket;
  readonly upstreamPort: number;
  /** Holding the upstream's bytes instead of relaying them. */
  frozen: boolean;
  held: Buffer[];
  heldBytes: number;
}

/**
 * A TCP load balancer in front of server nodes, the way clients meet a multi-node deployment:
 * every client connects to the proxy's one address; each new connection goes to the first
 * upstream port that accepts it (active/passive failover). When a node dies its connections
 * end, the clients' own reconnection lands on the next live node, and the clients never learn
 * node addresses. `freeze()` models a one-way network partition of the open connections: bytes
 * from the servers are held (and lost when the connection ends) while the clients' bytes still
 * reach the servers.
 *
 * @example
 * const proxy = await FailoverProxy.start([portA, portB]);
 * const socket = io(proxy.url, { transports: ["websocket"] });
 */
export class FailoverProxy {
  readonly #server: Server;
  readonly #relays = new Set<Relay>();
  readonly #pending = new Set<Socket>();
  #upstreams: number[];

  private constructor(server: Server, upstreams: number[]) {
    this.#server = server;
    this.#upstreams = upstreams;
    server.on("connection", (downstream) => this.#accept(downstream));
  }

  /** Starts the proxy on a free loopback port in front of `upstreams` (ports, in preference order). */
  static async start(upstreams: number[]): Promise<FailoverProxy> {
    const server = createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return new FailoverProxy(server, [...upstreams]);
  }

  /** The proxy's port. */
  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === "string") throw new Error("proxy not listening");
    return address.port;
  }

  /** `http://127.0.0.1:<port>`, for socket.io-client. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Open client connections relayed to the upstream on `port`. */
  connectionsTo(port: number): number {
    let count = 0;
    for (const relay of this.#relays) if (relay.upstreamPort === port) count++;
    return count;
  }

  /**
   * Holds every byte the servers send on the open connections, until these connections end;
   * new connections relay both ways.
   */
  freeze(): void {
    for (const relay of this.#relays) relay.frozen = true;
  }

  /** Everything held so far, as latin1 text (Socket.IO text frames are readable in it). */
  heldText(): string {
    let text = "";
    for (const relay of this.#relays) text += Buffer.concat(relay.held).toString("latin1");
    return text;
  }

  /** Sends new connections to `upstreams` (an empty list refuses them, like a drained pool). */
  setUpstreams(upstreams: number[]): void {
    this.#upstreams = [...upstreams];
  }

  /** Cuts every open connection, as a network failure would; the clients reconnect. */
  cutConnections(): void {
    for (const relay of this.#relays) this.#cut(relay);
  }

  /** Stops accepting and cuts every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#pending) socket.destroy();
    this.cutConnections();
    await closed;
  }

  #accept(downstream: Socket): void {
    this.#pending.add(downstream);
    downstream.on("error", () => downstream.destroy());
    downstream.once("close", () => this.#pending.delete(downstream));
    this.#connectUpstream(downstream, [...this.#upstreams]);
  }

  #connectUpstream(downstream: Socket, candidates: number[]): void {
    const port = candidates.shift();
    if (port === undefined || downstream.destroyed) {
      downstream.destroy();
      return;
    }
    const upstream = createConnection({ host: "127.0.0.1", port });
    const refused = () => this.#connectUpstream(downstream, candidates);
    upstream.once("error", refused);
    upstream.once("connect", () => {
      upstream.off("error", refused);
      this.#pending.delete(downstream);
      this.#relay({
        downstream,
        upstream,
        upstreamPort: port,
        frozen: false,
        held: [],
        heldBytes: 0,
      });
    });
  }

  #relay(relay: Relay): void {
    const { downstream, upstream } = relay;
    this.#relays.add(relay);
    const cut = () => this.#cut(relay);
    for (const socket of [downstream, upstream]) {
      socket.on("error", cut);
      socket.on("close", cut);
    }
    if (downstream.destroyed) {
      cut();
      return;
    }
    downstream.pipe(upstream);
    upstream.on("data", (chunk: Buffer) => {
      if (!relay.frozen) {
        if (!downstream.write(chunk)) {
          upstream.pause();
          downstream.once("drain", () => upstream.resume());
        }
        return;
      }
      relay.held.push(chunk);
      relay.heldBytes += chunk.length;
      if (relay.heldBytes > MAX_HELD_BYTES) cut();
    });
    downstream.resume();
  }

  #cut(relay: Relay): void {
    if (!this.#relays.delete(relay)) return;
    relay.held = [];
    relay.downstream.destroy();
    relay.upstream.destroy();
  }
}
