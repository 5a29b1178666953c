import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type AssuredClient,
  type AssuredClientOptions,
  createAssuredClient,
} from "@assured/client";
import { MemoryDedupStore, MemoryEventStore } from "@assured/core";
import type { EventStore } from "@assured/core/store";
// The real server and client, over real sockets (cross-package tests live in e2e).
import {
  type AssuredServer,
  type AssuredServerOptions,
  createAssuredServer,
} from "@assured/server";
import { Server, type ServerOptions } from "socket.io";
import { io, type Socket } from "socket.io-client";
import { afterEach } from "vitest";

/** Resolves when `check` returns something other than undefined/false; re-checked on `poke()`. */
export class Waiter {
  readonly #checks = new Set<() => boolean>();

  /** Re-runs every pending check (call it whenever observed state changes). */
  poke(): void {
    for (const check of [...this.#checks]) check();
  }

  until<T>(check: () => T | undefined | false, what = "condition", timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value === undefined || value === false) return false;
        this.#checks.delete(attempt);
        clearTimeout(timer);
        resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        this.#checks.delete(attempt);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      if (!attempt()) this.#checks.add(attempt);
    });
  }
}

/** A real Socket.IO server on loopback with the real Assured server on a store that outlives restarts. */
export class TestServer {
  readonly store: EventStore;
  readonly dedupStore = new MemoryDedupStore();
  io!: Server;
  assured!: AssuredServer;
  #http!: HttpServer;
  port = 0;

  constructor(store: EventStore = new MemoryEventStore()) {
    this.store = store;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts (or restarts on the same port) the server. */
  async start(
    options: Partial<AssuredServerOptions> = {},
    store = this.store,
    ioOptions: Partial<ServerOptions> = {},
  ): Promise<this> {
    this.#http = createServer();
    this.io = new Server(this.#http, ioOptions);
    this.assured = createAssuredServer(this.io, { store, dedupStore: this.dedupStore, ...options });
    await new Promise<void>((resolve) => this.#http.listen(this.port, "127.0.0.1", resolve));
    this.port = (this.#http.address() as AddressInfo).port;
    return this;
  }

  /** Stops the server; connected clients see a dropped connection. */
  async stop(): Promise<void> {
    await this.assured.close();
    // Closing the engine drops connections the way a crash does: clients reconnect by themselves.
    await new Promise<void>((resolve) => this.io.close(() => resolve()));
  }

  /** Publishes `count` events `{ n }` named `name` to `stream`, one after another. */
  async publishMany(stream: string, from: number, count: number, name = "tick"): Promise<void> {
    for (let n = from; n < from + count; n++) await this.assured.publish(stream, name, { n });
  }
}

/** A client plus what it observed. */
export interface TestClient {
  client: AssuredClient;
  socket: Socket;
  /** Received `tick` events per stream: the `n` field in delivery order. */
  seen: Map<string, number[]>;
  outcomes: { stream: string; recovered: boolean; reason?: string }[];
  errors: Error[];
  waiter: Waiter;
  /** Resolves once `stream` has delivered at least `count` ticks. */
  ticks(stream: string, count: number): Promise<number[]>;
}

/** A socket.io-client socket for the server, created with `autoConnect: false`. */
export function testSocket(url: string): Socket {
  return io(url, {
    autoConnect: false,
    forceNew: true,
    transports: ["websocket"],
    reconnectionDelay: 20,
    reconnectionDelayMax: 50,
  });
}

/** Creates a client that records `tick` events (`{ n }`), outcomes and errors. */
export function testClient(url: string, options: AssuredClientOptions = {}): TestClient {
  const socket = testSocket(url);
  const client = createAssuredClient(socket, options);
  const waiter = new Waiter();
  const seen = new Map<string, number[]>();
  const outcomes: TestClient["outcomes"] = [];
  const errors: Error[] = [];
  client.on<{ n: number }>("tick", (data, meta) => {
    const list = seen.get(meta.stream) ?? [];
    list.push(data.n);
    seen.set(meta.stream, list);
    waiter.poke();
  });
  client.onRecovery((o) => {
    outcomes.push(
      o.reason === undefined
        ? { stream: o.stream, recovered: o.recovered }
        : { stream: o.stream, recovered: o.recovered, reason: o.reason },
    );
    waiter.poke();
  });
  client.onError((e) => {
    errors.push(e);
    waiter.poke();
  });
  return {
    client,
    socket,
    seen,
    outcomes,
    errors,
    waiter,
    ticks: (stream, count) =>
      waiter.until(() => {
        const list = seen.get(stream) ?? [];
        return list.length >= count ? list : undefined;
      }, `${count} ticks on ${stream}`),
  };
}

/** Resolves on the socket's next event of that name. */
export function once(socket: Socket, event: string): Promise<unknown> {
  return new Promise((resolve) => socket.once(event, (...args: unknown[]) => resolve(args[0])));
}

/** 1, 2, …, n. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Polls `check` (sync or async) until it is true; throws after `timeoutMs` (for state no event announces). */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Closes the clients passed to the returned `track`, then stops the server `current()` returns,
 * after each test of the file.
 */
export function closeAfterEach(
  current: () => TestServer | undefined,
): (c: TestClient) => TestClient {
  const clients: TestClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.client.close();
    await current()?.stop();
  });
  return (c) => {
    clients.push(c);
    return c;
  };
}
