import { createConnection, createServer, type Server, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { Pipe, type Toxics } from "./fault-proxy-pipe.js";

export type { Toxics } from "./fault-proxy-pipe.js";

/** Bytes held per connection (both directions); beyond it the connection is cut. */
export const MAX_HELD_BYTES = 16 * 1024 * 1024;

/** Options of `FaultProxy.start`. */
export interface FaultProxyOptions {
  /**
   * Upstream ports on 127.0.0.1, read for each new connection and tried in order: the first
   * that accepts wins (failover). When none accepts, the client connection is closed.
   */
  upstreams: () => readonly number[];
}

/** Chooses among the open connections (in accept order) by index; absent: all of them. */
export type ConnectionSelector = (index: number, count: number) => boolean;

/** What the proxy did since it started. */
export interface FaultProxyStats {
  /** Client connections accepted (relayed or not). */
  accepted: number;
  /** Connections cut: by `cut()`, by `heal()` (half-open ones), and by the memory bound. */
  cut: number;
  /** Connections stalled (each `stall()` counts the connections it stalled). */
  stalled: number;
  /** Connections made half-open. */
  halfOpened: number;
  /** Upstream connection attempts that failed (each port tried counts). */
  upstreamRefused: number;
}

/** One client connection relayed to an upstream. */
interface Link {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Client to upstream. */
  readonly up: Pipe;
  /** Upstream to client. */
  readonly down: Pipe;
  halfOpen: boolean;
}

/** A client connection waiting for an upstream to accept. */
interface Pending {
  readonly client: Socket;
  attempt: Socket | undefined;
}

/**
 * A fault-injection TCP proxy on 127.0.0.1 between clients and server nodes, with
 * Toxiproxy-like toxics (latency, jitter, bandwidth) and faults on the open connections: cuts
 * (RST), stalls (bytes held, then delivered in order), half-open connections (a dead peer).
 * Each new connection goes to the first upstream that accepts it. Bytes keep their order in
 * each direction; at most `MAX_HELD_BYTES` are held per connection (beyond, it is cut).
 *
 * @example
 * const proxy = await FaultProxy.start({ upstreams: () => [portA, portB] });
 * const socket = io(proxy.url, { transports: ["websocket"] });
 * proxy.setToxics({ latencyMs: 50, jitterMs: 20 });
 * proxy.stall(2_000);
 */
export class FaultProxy {
  readonly #server: Server;
  readonly #options: FaultProxyOptions;
  readonly #links = new Set<Link>();
  readonly #pending = new Set<Pending>();
  readonly #stats: FaultProxyStats = {
    accepted: 0,
    cut: 0,
    stalled: 0,
    halfOpened: 0,
    upstreamRefused: 0,
  };
  #toxics: Toxics = {};
  #closing: Promise<void> | undefined;

  private constructor(server: Server, options: FaultProxyOptions) {
    this.#server = server;
    this.#options = options;
    server.on("connection", (client) => this.#accept(client));
  }

  /** Starts the proxy on a free loopback port. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const server = createServer({ pauseOnConnect: true, allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    return new FaultProxy(server, options);
  }

  /** The proxy's port on 127.0.0.1. */
  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === "string") throw new Error("proxy not listening");
    return address.port;
  }

  /** `http://127.0.0.1:<port>`, for socket.io-client. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * Sets the toxics of every current and future connection, both directions; `{}` clears them.
   * Latency applies to the bytes that arrive from now on; the bandwidth limit at once.
   */
  setToxics(toxics: Toxics): void {
    for (const [name, value] of Object.entries(toxics)) {
      if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
        throw new RangeError(`toxic ${name} must be a finite number ≥ 0, got ${value}`);
      }
    }
    this.#toxics = { ...toxics };
    for (const link of this.#links) {
      link.up.pump();
      link.down.pump();
    }
  }

  /**
   * Destroys the selected open connections on both sides with a TCP RST, as a network failure
   * would; the clients reconnect. Returns how many were cut.
   */
  cut(select?: ConnectionSelector): number {
    const chosen = this.#select(select);
    for (const link of chosen) this.#cut(link);
    return chosen.length;
  }

  /**
   * Every open connection relays no byte either way for `ms`; what arrives meanwhile is held and
   * then delivered in order. New connections are not affected. A longer stall wins.
   */
  stall(ms: number): void {
    const until = performance.now() + ms;
    for (const link of this.#links) {
      if (link.halfOpen) continue;
      link.up.stallUntil(until);
      link.down.stallUntil(until);
      this.#stats.stalled++;
    }
  }

  /**
   * The selected connections stop relaying both ways and never close on their own, like a
   * peer that died without RST or FIN: the other side notices only by its own timeouts. Held
   * bytes are dropped. `heal()` or `cut()` ends them. Returns how many became half-open.
   */
  halfOpen(select?: ConnectionSelector): number {
    let count = 0;
    for (const link of this.#select(select)) {
      if (link.halfOpen) continue;
      link.halfOpen = true;
      link.up.kill();
      link.down.kill();
      this.#stats.halfOpened++;
      count++;
    }
    return count;
  }

  /**
   * Ends every stall, cuts the half-open connections (they are dead) and clears the toxics.
   * Bytes already delayed by the latency toxic keep their due time (they are in flight).
   */
  heal(): void {
    this.#toxics = {};
    for (const link of [...this.#links]) {
      if (link.halfOpen) {
        this.#cut(link);
        continue;
      }
      link.up.unstall();
      link.down.unstall();
    }
  }

  /** Open relayed connections, half-open ones included. */
  connections(): number {
    return this.#links.size;
  }

  /** Counters since the start (a copy). */
  stats(): FaultProxyStats {
    return { ...this.#stats };
  }

  /** Stops accepting, destroys every connection and stops every timer. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      for (const pending of this.#pending) {
        pending.attempt?.destroy();
        pending.client.destroy();
      }
      this.#pending.clear();
      for (const link of [...this.#links]) this.#drop(link, true);
      await closed;
    })();
    return this.#closing;
  }

  #select(select: ConnectionSelector | undefined): Link[] {
    const links = [...this.#links];
    return select === undefined ? links : links.filter((_, i) => select(i, links.length));
  }

  #accept(client: Socket): void {
    this.#stats.accepted++;
    client.on("error", () => {}); // every socket error also closes it; "close" handles that
    if (this.#closing !== undefined) {
      client.destroy();
      return;
    }
    const pending: Pending = { client, attempt: undefined };
    const gone = () => {
      pending.attempt?.destroy();
      this.#pending.delete(pending);
    };
    this.#pending.add(pending);
    client.once("close", gone);
    this.#tryUpstream(pending, [...this.#options.upstreams()], 0, gone);
  }

  #tryUpstream(pending: Pending, ports: readonly number[], index: number, gone: () => void): void {
    const port = ports[index];
    if (port === undefined || pending.client.destroyed || this.#closing !== undefined) {
      pending.client.destroy();
      return;
    }
    const attempt = createConnection({ host: "127.0.0.1", port, allowHalfOpen: true });
    pending.attempt = attempt;
    const refused = () => {
      this.#stats.upstreamRefused++;
      this.#tryUpstream(pending, ports, index + 1, gone);
    };
    attempt.once("error", refused);
    attempt.once("connect", () => {
      attempt.off("error", refused);
      pending.client.off("close", gone);
      this.#pending.delete(pending);
      this.#relay(pending.client, attempt);
    });
  }

  #relay(client: Socket, upstream: Socket): void {
    upstream.on("error", () => {});
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    const toxics = () => this.#toxics;
    const link: Link = {
      client,
      upstream,
      up: new Pipe(client, upstream, toxics),
      down: new Pipe(upstream, client, toxics),
      halfOpen: false,
    };
    this.#links.add(link);
    const sides = [
      [client, link.up, upstream],
      [upstream, link.down, client],
    ] as const;
    for (const [socket, from, other] of sides) {
      socket.on("data", (chunk: Buffer) => {
        from.push(chunk);
        if (link.up.queuedBytes + link.down.queuedBytes > MAX_HELD_BYTES) this.#cut(link);
        else from.pump();
      });
      socket.on("end", () => from.end());
      socket.on("close", (hadError) => {
        if (other.destroyed) this.#drop(link, false);
        else if (hadError && !link.halfOpen) this.#drop(link, false);
      });
    }
    client.resume();
  }

  /** Cuts `link` with a RST both ways, and counts it. */
  #cut(link: Link): void {
    if (this.#links.has(link)) this.#stats.cut++;
    this.#drop(link, true);
  }

  /** Forgets `link` and destroys both sockets (with a RST if `reset`). */
  #drop(link: Link, reset: boolean): void {
    if (!this.#links.delete(link)) return;
    link.up.dispose();
    link.down.dispose();
    for (const socket of [link.client, link.upstream]) {
      if (reset && !socket.destroyed) socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}
