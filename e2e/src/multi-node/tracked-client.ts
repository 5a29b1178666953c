import {
  type AssuredClient,
  createAssuredClient,
  type EventMeta,
  memoryStorage,
  type RecoveryOutcome,
} from "@assured/client";
import type { AssuredError } from "@assured/core";
import { newId } from "@assured/core/store";
import { io, type Socket } from "socket.io-client";

/** One event as the client's handler saw it. */
export interface Delivery {
  offset: number;
  epoch: string;
  data: unknown;
}

/** What the server's `record` handler answers. */
export interface RecordAnswer {
  node: string;
  client: string;
  n: number;
}

/** Options of `TrackedClient`. */
export interface TrackedClientOptions {
  /** Names the client in the messages it sends. */
  name: string;
  /** Where the socket connects (the failover proxy). */
  url: string;
  /** The one stream it subscribes to, from `"earliest"`. */
  stream: string;
  /**
   * The application's resync path (G6): on an outcome that did not recover, resubscribe from
   * `"earliest"`. Default false.
   */
  resyncOnLoss?: boolean;
}

/**
 * A real `@assured/client` (memory storage) on a real socket.io-client socket, recording what
 * the application sees: each delivery, each recovery outcome, each error, each message's
 * answer. WebSocket only, with fast reconnection.
 */
export class TrackedClient {
  readonly name: string;
  readonly stream: string;
  readonly socket: Socket;
  readonly client: AssuredClient;
  readonly deliveries: Delivery[] = [];
  readonly outcomes: RecoveryOutcome[] = [];
  readonly errors: AssuredError[] = [];
  /** Message id → the number it carries, for every `record` sent. */
  readonly sent = new Map<string, number>();
  /** Message id → the handler's answer. */
  readonly answers = new Map<string, RecordAnswer>();
  /** Message id → why it failed (a message must not fail in these tests). */
  readonly failures = new Map<string, unknown>();
  /** "connect" events of the socket. */
  connects = 0;

  constructor(options: TrackedClientOptions) {
    this.name = options.name;
    this.stream = options.stream;
    this.socket = io(options.url, {
      autoConnect: false,
      forceNew: true,
      transports: ["websocket"],
      reconnectionDelay: 50,
      reconnectionDelayMax: 250,
    });
    this.socket.on("connect", () => {
      this.connects++;
    });
    this.client = createAssuredClient(this.socket, {
      storage: memoryStorage(),
      retry: { initialMs: 50, maxMs: 500, factor: 2 },
    });
    this.client.on("e", (data, meta: EventMeta) => {
      this.deliveries.push({ offset: meta.offset, epoch: meta.epoch, data });
    });
    this.client.onRecovery((outcome) => {
      this.outcomes.push(outcome);
      if (options.resyncOnLoss && !outcome.recovered) {
        this.client.resubscribe(outcome.stream, { from: "earliest" });
      }
    });
    this.client.onError((error) => {
      this.errors.push(error);
    });
    this.client.subscribe(options.stream, { from: "earliest" });
  }

  /** Loads the (empty) storage and connects. */
  connect(): Promise<void> {
    return this.client.connect();
  }

  /** Offsets delivered, in delivery order. */
  offsets(): number[] {
    return this.deliveries.map((d) => d.offset);
  }

  /** Offsets delivered in `epoch`, in delivery order. */
  offsetsIn(epoch: string): number[] {
    return this.deliveries.filter((d) => d.epoch === epoch).map((d) => d.offset);
  }

  /**
   * Sends message `record` `{ client, n }` through the outbox; returns its id at once. With
   * `hangOn`, the handler of the node of that name records its run and never finishes.
   */
  record(n: number, options: { hangOn?: string } = {}): string {
    const id = newId();
    this.sent.set(id, n);
    this.client.emit<RecordAnswer>("record", { client: this.name, n, ...options }, { id }).then(
      (answer) => this.answers.set(id, answer),
      (error: unknown) => this.failures.set(id, error),
    );
    return id;
  }

  /** True once every message sent has its answer. */
  drained(): boolean {
    return this.answers.size + this.failures.size === this.sent.size;
  }

  /** Closes the client and its socket. */
  async close(): Promise<void> {
    await this.client.close();
    this.socket.disconnect();
  }
}
