import {
  type AssuredClient,
  type AssuredClientOptions,
  createAssuredClient,
  type EventMeta,
  type RecoveryOutcome,
} from "@assured/client";
import type { AssuredError } from "@assured/core";
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { Changes } from "./changes.js";

/** One event as a handler saw it. */
export interface Delivery {
  offset: number;
  epoch: string;
  id: string;
  data: unknown;
}

/** Options of `RecordingClient`. */
export interface RecordingClientOptions extends AssuredClientOptions {
  /** socket.io-client options (default: websocket, fast reconnection). */
  socket?: Partial<ManagerOptions & SocketOptions>;
  /** Event names to record (default `["e"]`). */
  events?: string[];
  /** Shared change signal (default: a new one). */
  changes?: Changes;
  /** Runs (and is awaited) in the handler before the delivery is recorded: slow it, or gate it. */
  beforeRecord?: (data: unknown, meta: EventMeta) => void | Promise<void>;
}

/**
 * A real `@assured/client` on a real socket.io-client socket that records what its handlers
 * see: every delivery per stream, every recovery outcome and every reported error. Each
 * record calls `changes.notify()`, so tests await conditions instead of sleeping.
 */
export class RecordingClient {
  readonly socket: Socket;
  readonly client: AssuredClient;
  readonly changes: Changes;
  readonly deliveries = new Map<string, Delivery[]>();
  readonly outcomes: RecoveryOutcome[] = [];
  readonly errors: AssuredError[] = [];
  /** Count of "connect" events of the socket. */
  connects = 0;

  constructor(url: string, options: RecordingClientOptions = {}) {
    const {
      socket: socketOptions,
      events = ["e"],
      changes,
      beforeRecord,
      ...clientOptions
    } = options;
    this.changes = changes ?? new Changes();
    this.socket = io(url, {
      autoConnect: false,
      forceNew: true,
      transports: ["websocket"],
      reconnectionDelay: 20,
      reconnectionDelayMax: 200,
      ...socketOptions,
    });
    this.socket.on("connect", () => {
      this.connects++;
      this.changes.notify();
    });
    this.socket.on("disconnect", () => this.changes.notify());
    this.client = createAssuredClient(this.socket, clientOptions);
    for (const name of events) {
      this.client.on(name, async (data, meta: EventMeta) => {
        await beforeRecord?.(data, meta);
        let list = this.deliveries.get(meta.stream);
        if (list === undefined) {
          list = [];
          this.deliveries.set(meta.stream, list);
        }
        list.push({ offset: meta.offset, epoch: meta.epoch, id: meta.id, data });
        this.changes.notify();
      });
    }
    this.client.onRecovery((outcome) => {
      this.outcomes.push(outcome);
      this.changes.notify();
    });
    this.client.onError((error) => {
      this.errors.push(error);
      this.changes.notify();
    });
  }

  /** Offsets delivered for a stream, in delivery order. */
  offsets(stream: string): number[] {
    return (this.deliveries.get(stream) ?? []).map((d) => d.offset);
  }

  /** Data delivered for a stream, in delivery order. */
  data(stream: string): unknown[] {
    return (this.deliveries.get(stream) ?? []).map((d) => d.data);
  }

  /** Resolves once the stream's handler has seen offset `offset` (or beyond). */
  reached(stream: string, offset: number, timeoutMs = 10_000): Promise<true> {
    return this.changes.until(() => (this.offsets(stream).at(-1) ?? 0) >= offset, {
      timeoutMs,
      what: () =>
        `offset ${offset} of ${stream}; delivered up to ${this.offsets(stream).at(-1) ?? 0}`,
    });
  }

  /** Resolves once the socket is connected. */
  connected(timeoutMs = 10_000): Promise<true> {
    return this.changes.until(() => this.socket.connected, { timeoutMs, what: "a connection" });
  }

  /** Closes the client and its socket. */
  async close(): Promise<void> {
    await this.client.close();
    this.socket.disconnect();
  }
}
