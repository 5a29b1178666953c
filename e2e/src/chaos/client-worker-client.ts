import {
  type AssuredClient,
  createAssuredClient,
  type EventMeta,
  isAssuredError,
  memoryStorage,
  type RecoveryOutcome,
} from "@assured/client";
import { newId } from "@assured/core/store";
import { io, type Socket } from "socket.io-client";
import type { ChaosMessageAnswer, ChaosMessageData } from "./chaos-log.js";
import type { ChaosLogWriter } from "./client-worker-log.js";
import {
  type ClientStatus,
  mixSeed,
  type SeenPosition,
  seeOutcome,
} from "./client-worker-protocol.js";
import { SeededRandom } from "./seeded-random.js";

/** Options of one `WorkerClient`. */
export interface WorkerClientOptions {
  name: string;
  url: string;
  streams: string[];
  messagesPerSecond: number;
  maxMessages: number;
  seed: number;
  log: ChaosLogWriter;
}

/**
 * One chaos client in a worker process: a real `@assured/client` (memory storage) on its own
 * socket.io-client socket, subscribed to every stream from `"earliest"`, logging what the
 * application sees (deliveries, outcomes, errors, connections, emits and their settlements) and
 * sending `record` `{ client, n }` messages at a seeded Poisson rate. A `recovered: false`
 * outcome is only logged: the application would resync outside Assured.
 */
export class WorkerClient {
  readonly name: string;
  readonly socket: Socket;
  readonly client: AssuredClient;
  readonly #options: WorkerClientOptions;
  readonly #log: ChaosLogWriter;
  readonly #random: () => number;
  readonly #delivered: Record<string, number> = {};
  readonly #positions: Record<string, SeenPosition> = {};
  readonly #subscribed = new Set<string>();
  #deliveries = 0;
  #outcomes = 0;
  #notRecovered = 0;
  #emitted = 0;
  #settled = 0;
  #failed = 0;
  #errors = 0;
  #sending = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: WorkerClientOptions) {
    this.#options = options;
    this.name = options.name;
    this.#log = options.log;
    const source = new SeededRandom(mixSeed(options.seed, options.name));
    this.#random = () => source.next();
    for (const stream of options.streams) this.#delivered[stream] = 0;
    this.socket = io(options.url, {
      autoConnect: false,
      forceNew: true,
      transports: ["websocket"],
      reconnectionDelay: 50,
      reconnectionDelayMax: 500,
    });
    this.socket.on("connect", () => {
      this.#log.append({ kind: "connection", client: this.name, connected: true });
    });
    this.socket.on("disconnect", (reason) => {
      this.#log.append({ kind: "connection", client: this.name, connected: false, reason });
    });
    this.client = createAssuredClient(this.socket, {
      storage: memoryStorage(),
      retry: { initialMs: 50, maxMs: 1000, factor: 2 },
      ackTimeoutMs: 5000,
    });
    this.client.on("e", (data, meta: EventMeta) => {
      this.#deliveries++;
      this.#delivered[meta.stream] = meta.offset;
      this.#positions[meta.stream] = { epoch: meta.epoch, offset: meta.offset, id: meta.id };
      this.#log.append({
        kind: "delivery",
        client: this.name,
        stream: meta.stream,
        epoch: meta.epoch,
        offset: meta.offset,
        id: meta.id,
        data,
      });
    });
    this.client.onRecovery((outcome: RecoveryOutcome) => {
      this.#outcomes++;
      this.#subscribed.add(outcome.stream);
      if (!outcome.recovered) this.#notRecovered++;
      seeOutcome(this.#positions, {
        stream: outcome.stream,
        recovered: outcome.recovered,
        epoch: outcome.position.epoch,
        offset: outcome.position.offset,
      });
      this.#log.append({
        kind: "outcome",
        client: this.name,
        stream: outcome.stream,
        recovered: outcome.recovered,
        ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
        epoch: outcome.position.epoch,
        offset: outcome.position.offset,
      });
    });
    this.client.onError((error) => {
      this.#errors++;
      this.#log.append({
        kind: "error",
        client: this.name,
        code: error.code,
        message: error.message,
      });
    });
    for (const stream of options.streams) this.client.subscribe(stream, { from: "earliest" });
  }

  /** Loads the (empty) storage and starts connecting. */
  connect(): Promise<void> {
    return this.client.connect();
  }

  /** Connected, with a first outcome for every stream. */
  get ready(): boolean {
    return this.socket.connected && this.#subscribed.size === this.#options.streams.length;
  }

  /** Every message emitted and every promise settled. */
  get done(): boolean {
    return this.#emitted >= this.#options.maxMessages && this.#settled === this.#emitted;
  }

  /** Starts (or resumes) the message timer. */
  startSending(): void {
    if (this.#sending) return;
    this.#sending = true;
    this.#scheduleNext();
  }

  /** Stops the message timer; messages already emitted go on. */
  stopSending(): void {
    this.#sending = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  status(): ClientStatus {
    return {
      name: this.name,
      connected: this.socket.connected,
      pending: this.client.pending().length,
      delivered: { ...this.#delivered },
      positions: { ...this.#positions },
      deliveries: this.#deliveries,
      outcomes: this.#outcomes,
      notRecovered: this.#notRecovered,
      emitted: this.#emitted,
      settled: this.#settled,
      failed: this.#failed,
      errors: this.#errors,
    };
  }

  /** Stops sending and closes the client (its pending `emit`s reject with `CLOSED`). */
  async close(): Promise<void> {
    this.stopSending();
    await this.client.close();
    this.socket.disconnect();
  }

  #scheduleNext(): void {
    const { messagesPerSecond, maxMessages } = this.#options;
    if (!this.#sending || this.#timer || messagesPerSecond <= 0) return;
    if (this.#emitted >= maxMessages) return;
    // Exponential gaps: a Poisson process of `messagesPerSecond`.
    const delay = (-Math.log(1 - this.#random()) * 1000) / messagesPerSecond;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#sending) return;
      this.#send();
      this.#scheduleNext();
    }, delay);
  }

  #send(): void {
    const n = ++this.#emitted;
    const id = newId();
    const data: ChaosMessageData = { client: this.name, n };
    this.#log.append({ kind: "emit", client: this.name, id, n });
    this.client.emit<ChaosMessageAnswer>("record", data, { id }).then(
      (value) => {
        this.#settled++;
        this.#log.append({ kind: "settled", client: this.name, id, n, ok: true, value });
      },
      (error: unknown) => {
        this.#settled++;
        this.#failed++;
        const code = isAssuredError(error) ? error.code : "UNKNOWN";
        this.#log.append({ kind: "settled", client: this.name, id, n, ok: false, code });
      },
    );
  }
}
