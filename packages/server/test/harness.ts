import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  decode,
  type EventRecord,
  encode,
  MemoryDedupStore,
  MemoryEventStore,
} from "@assured/core";
import {
  type BatchFrame,
  type FetchReply,
  FRAMES,
  type MessageReply,
  PROTOCOL_VERSION,
  type SubscribedFrame,
  unpackRecords,
} from "@assured/core/protocol";
import { type DedupStore, type EventStore, newId } from "@assured/core/store";
import { Server, type ServerOptions } from "socket.io";
import {
  type Socket as ClientSocket,
  io as connectClient,
  type ManagerOptions,
  type SocketOptions,
} from "socket.io-client";
import {
  type AssuredServer,
  type AssuredServerOptions,
  createAssuredServer,
} from "../src/index.js";

/** A pseudo event under which `Peer.catchUp` records its fetch replies. */
/** The event name `catchUp` files fetch replies under (`records`, `offsets`). */
export const FETCHED = "test:fetched";

/** A raw socket.io-client speaking Assured's frames, recording everything it receives. */
export class Peer {
  readonly socket: ClientSocket;
  readonly received: { event: string; args: unknown[] }[] = [];
  /** Ack replay batches as soon as they arrive (flow control tests turn this off). */
  autoAck = true;
  readonly pendingAcks: (() => void)[] = [];
  #waiters = new Set<() => void>();

  constructor(
    url: string,
    auth: Record<string, unknown> | undefined,
    options: Partial<ManagerOptions & SocketOptions> = {},
  ) {
    this.socket = connectClient(url, {
      autoConnect: false,
      reconnection: false,
      forceNew: true,
      transports: ["websocket"],
      ...(auth === undefined ? {} : { auth }),
      ...options,
    });
    this.socket.onAny((event: string, ...args: unknown[]) => {
      const last = args[args.length - 1];
      if (typeof last === "function") {
        args.pop();
        if (this.autoAck) last();
        else this.pendingAcks.push(() => last());
      }
      this.received.push({ event, args });
      for (const waiter of [...this.#waiters]) waiter();
    });
  }

  /** Connects and resolves once connected. */
  connect(): Promise<this> {
    return new Promise((resolve, reject) => {
      this.socket.once("connect", () => resolve(this));
      this.socket.once("connect_error", reject);
      this.socket.connect();
    });
  }

  /** Payloads of every received frame of one kind. */
  frames<T = Record<string, unknown>>(event: string): T[] {
    return this.received.filter((r) => r.event === event).map((r) => r.args[0] as T);
  }

  /**
   * Every record received for a stream, in arrival order: the first pages of `assured:subscribed`
   * frames, `assured:batch` frames and the replies of `catchUp` fetches.
   */
  records(stream: string): EventRecord[] {
    return this.received
      .filter(
        (r) => r.event === FRAMES.batch || r.event === FRAMES.subscribed || r.event === FETCHED,
      )
      .map((r) => r.args[0] as BatchFrame)
      .filter((b) => b.stream === stream && typeof b.records === "object" && b.records !== null)
      .flatMap((b) => unpackRecords(stream, b.records).records);
  }

  /**
   * Pulls a stream like the client does (protocol v2): fetches after the last record received
   * until the head of the latest `assured:subscribed` (or `until`) is reached. The replies count
   * as received records (`records`, `offsets`).
   */
  async catchUp(stream: string, until?: number, limit = 1000): Promise<void> {
    const subscribed = this.frames<SubscribedFrame>(FRAMES.subscribed).filter(
      (f) => f.stream === stream,
    );
    const last = subscribed[subscribed.length - 1];
    if (last === undefined) throw new Error(`not subscribed to ${stream}`);
    const head = until ?? last.head;
    for (;;) {
      // After the contiguous prefix received since `start` (live batches may be ahead of it).
      const received = new Set(this.offsets(stream));
      let after = last.start;
      while (received.has(after + 1)) after++;
      if (after >= head) return;
      const reply = await this.request<FetchReply>(FRAMES.fetch, {
        stream,
        epoch: last.epoch,
        after,
        limit,
      });
      if (!reply.ok) throw new Error(`fetch failed: ${reply.error.code}`);
      if (reply.records.count === 0) return;
      this.received.push({ event: FETCHED, args: [{ ...reply, stream }] });
    }
  }

  /** Offsets received for a stream, in arrival order. */
  offsets(stream: string): number[] {
    return this.records(stream).map((r) => r.offset);
  }

  /** Decoded data received for a stream, in arrival order. */
  data(stream: string): unknown[] {
    return this.records(stream).map((r) => decode(r.payload));
  }

  /** Resolves once `check` returns a value other than undefined/false, re-checked on each frame. */
  until<T>(check: () => T | undefined | false, timeoutMs = 5_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value === undefined || value === false) return false;
        this.#waiters.delete(attempt);
        clearTimeout(timer);
        resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(attempt);
        reject(new Error(`timed out waiting; received: ${JSON.stringify(this.summary())}`));
      }, timeoutMs);
      if (!attempt()) this.#waiters.add(attempt);
    });
  }

  /** Resolves with the first frame of a kind matching `match` (already received or next). */
  next<T = Record<string, unknown>>(event: string, match: (frame: T) => boolean = () => true) {
    return this.until(() => this.frames<T>(event).find(match));
  }

  /** Sends a frame with an ack and resolves with the reply. */
  request<T = Record<string, unknown>>(event: string, ...args: unknown[]): Promise<T> {
    return this.socket.timeout(5_000).emitWithAck(event, ...args) as Promise<T>;
  }

  /** Sends a client message and resolves with the reply. */
  send(name: string, data: unknown, id = newId(), seq = 1): Promise<MessageReply> {
    return this.request<MessageReply>(FRAMES.message, { id, seq, name, payload: encode(data) });
  }

  /** A round trip through the server: every frame it sent before answering has arrived. */
  async roundTrip(): Promise<void> {
    await this.request(FRAMES.heads, { streams: [] });
  }

  summary(): string[] {
    return this.received.map((r) => r.event);
  }
}

/** Options of `startAssured`. */
export interface StartOptions extends Partial<AssuredServerOptions> {
  namespace?: string;
  serverOptions?: Partial<ServerOptions>;
}

/** A real Socket.IO server on loopback with Assured attached to it. */
export async function startAssured(options: StartOptions = {}) {
  const { namespace, serverOptions, ...assuredOptions } = options;
  const httpServer = createServer();
  const io = new Server(httpServer, serverOptions);
  const store: EventStore = options.store ?? new MemoryEventStore();
  const dedupStore: DedupStore = options.dedupStore ?? new MemoryDedupStore();
  const target = namespace === undefined ? io : io.of(namespace);
  const assured: AssuredServer = createAssuredServer(target, {
    ...assuredOptions,
    store,
    dedupStore,
  });
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const { port } = httpServer.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}${namespace ?? ""}`;
  const peers: Peer[] = [];
  return {
    io,
    assured,
    store,
    dedupStore,
    url,
    /** Connects a raw client with the given `auth`. */
    async connect(auth?: Record<string, unknown>): Promise<Peer> {
      const peer = new Peer(url, auth);
      peers.push(peer);
      return peer.connect();
    },
    /** A peer that is created but not yet connected. */
    peer(auth?: Record<string, unknown>, clientOptions?: Partial<ManagerOptions & SocketOptions>) {
      const peer = new Peer(url, auth, clientOptions);
      peers.push(peer);
      return peer;
    },
    async close() {
      for (const peer of peers) peer.socket.disconnect();
      await assured.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
}

/** `auth` for a handshake with Assured's fields. */
export function assuredAuth(subscriptions: unknown[] = [], clientId = newId()) {
  return { assured: { v: PROTOCOL_VERSION, clientId, subscriptions } };
}

/** Appends `count` events to a stream directly in the store. */
export async function seed(store: EventStore, stream: string, count: number, name = "e") {
  const entries = Array.from({ length: count }, (_, i) => ({ name, payload: encode(i + 1) }));
  for (let i = 0; i < entries.length; i += 1000) {
    await store.append(stream, entries.slice(i, i + 1000));
  }
}

/** Consecutive integers from `from` to `to`. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}
