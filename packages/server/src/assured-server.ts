import { AssuredError, encode } from "@assured/core";
import {
  assertEventName,
  assertId,
  assertMeterOption,
  ROOM_PREFIX,
  type StartFrom,
} from "@assured/core/protocol";
import { assertKnownOptions, assertStreamName } from "@assured/core/store";
import createDebug from "debug";
import type { Namespace, Server, Socket } from "socket.io";
import { closeSocketBudget, meterOf } from "./budgets.js";
import { watchStoreCommits } from "./commit-feed.js";
import { paceConnections } from "./connect-pacing.js";
import { createContext, type ServerContext } from "./context.js";
import { type AssuredLimits, resolveLimits } from "./limits.js";
import { type AnyMessageHandler, MessageDispatcher } from "./messages.js";
import type { ServerStats } from "./metrics.js";
import type {
  AnyServer,
  AssuredServerOptions,
  FirstParameter,
  MessageHandler,
  MessagesMap,
  PublishMap,
  SocketOf,
} from "./options.js";
import { Publisher, type PublishResult } from "./publisher.js";
import { attachSocket, detachSocket } from "./socket-binding.js";
import { type SubscriptionOutcome, stateOf } from "./socket-state.js";
import { endSubscription, subscribeSocket } from "./subscriptions.js";
import type { AnySocket } from "./wire.js";

const log = createDebug("assured:server");

/** Options of `publish`. */
export interface PublishOptions {
  /** Idempotency id: publishing an id the stream already holds appends and emits nothing. */
  id?: string;
}

/** Options of `close`. */
export interface CloseOptions {
  /** Longest wait for pending publishes and running handlers (default `limits.closeTimeoutMs`). */
  timeoutMs?: number;
}

/** Options of a server-initiated `subscribe`. */
export interface ServerSubscribeOptions {
  /** Where to start when the client's handshake carries no position for the stream (default "head"). */
  from?: StartFrom;
}

/**
 * Assured bound to a Socket.IO `Server` or `Namespace`. Create it with `createAssuredServer`.
 * `M` types client messages (`on`), `E` types published events (`publish`), `S` the socket.
 */
export class AssuredServer<
  M extends MessagesMap = MessagesMap,
  E extends PublishMap = PublishMap,
  S extends Socket = Socket,
> {
  /** The limits in force (defaults merged with the options). */
  readonly limits: Readonly<AssuredLimits>;
  readonly #ctx: ServerContext;
  readonly #publisher: Publisher;
  readonly #dispatcher: MessageDispatcher;
  readonly #onConnection: (socket: AnySocket) => void;
  /** Stops emitting events committed outside `publish` (stores with `watchCommits`). */
  readonly #stopCommits: (() => void) | undefined;
  /** Lets connections through without waiting for the pacer (on close). */
  readonly #stopPacing: () => void;
  #closed = false;
  #closing: Promise<boolean> | undefined;

  constructor(io: Server | Namespace, options: AssuredServerOptions<S>) {
    if (typeof options !== "object" || options === null) {
      throw new AssuredError("INVALID_ARGUMENT", "options { store, dedupStore } are required.");
    }
    if (typeof options.store?.append !== "function") {
      throw new AssuredError("INVALID_ARGUMENT", "options.store must be an EventStore.");
    }
    if (typeof options.dedupStore?.claim !== "function") {
      throw new AssuredError("INVALID_ARGUMENT", "options.dedupStore must be a DedupStore.");
    }
    if (typeof options.dedupStore.renew !== "function") {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        "options.dedupStore has no renew(): update the store (the server renews the leases of running handlers).",
      );
    }
    assertKnownOptions(options, SERVER_OPTION_KEYS, "createAssuredServer", "AssuredServerOptions");
    for (const hook of ["authorize", "identify", "onError"] as const) {
      if (options[hook] !== undefined && typeof options[hook] !== "function") {
        throw new AssuredError("INVALID_ARGUMENT", `options.${hook} must be a function.`);
      }
    }
    assertMeterOption(options.meter, "options.meter");
    const nsp = namespaceOf(io);
    this.limits = resolveLimits(options.limits);
    assertFitsTransport(nsp, this.limits.maxPayloadBytes);
    this.#ctx = createContext(nsp, options as AssuredServerOptions<AnySocket>, this.limits);
    this.#publisher = new Publisher(options.store, nsp, {
      maxPending: this.limits.maxPendingPublishes,
      maxBatch: this.limits.maxAppendBatch,
      maxBatchBytes: this.limits.maxBatchBytes,
      metrics: this.#ctx.metrics,
    });
    this.#dispatcher = new MessageDispatcher(this.#ctx);
    this.#onConnection = (socket) => {
      // Bounds the connection's unsent bytes and packets from its first packet on (G11).
      meterOf(this.#ctx, socket);
      attachSocket(this.#ctx, this.#dispatcher, socket);
    };
    // Events committed outside publish (transactional publish), if the store reports them.
    try {
      this.#stopCommits = watchStoreCommits(this.#ctx);
    } catch (error) {
      this.#ctx.metrics.close(); // nothing else is attached yet
      throw error;
    }
    // A reconnect storm's handshakes and connects take turns like its page reads (G11).
    this.#stopPacing = paceConnections(nsp, this.#ctx.reads);
    nsp.on("connection", this.#onConnection);
    for (const socket of nsp.sockets.values()) this.#onConnection(socket);
    log("attached to namespace %s", nsp.name);
  }

  /**
   * Persists an event, then emits it to the stream's subscribers (G4). Resolves with its offset
   * once stored; the same `id` twice publishes once (`duplicate: true`, no second emit).
   *
   * @throws AssuredError `INVALID_STREAM`, `INVALID_ARGUMENT`, `CODEC_ERROR`, `PAYLOAD_TOO_LARGE`,
   * `LIMIT_EXCEEDED` (too many pending publishes), `STORE_UNAVAILABLE`, `CLOSED`.
   * @example const { offset } = await assured.publish("room:1", "chat:message", { text: "hi" });
   */
  async publish<K extends keyof E & string>(
    stream: string,
    name: K,
    data: FirstParameter<E[K]>,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    this.#assertOpen();
    assertStreamName(stream);
    assertEventName(name);
    assertKnownOptions(
      options,
      ["id"] satisfies (keyof PublishOptions)[],
      "publish",
      "PublishOptions",
    );
    if (options.id !== undefined) assertId(options.id, "event id");
    const payload = encode(data);
    if (payload.byteLength > this.limits.maxPayloadBytes) {
      throw new AssuredError(
        "PAYLOAD_TOO_LARGE",
        `event payload is ${payload.byteLength} bytes; the limit is ${this.limits.maxPayloadBytes}.`,
      );
    }
    const entry = options.id === undefined ? { name, payload } : { id: options.id, name, payload };
    return this.#publisher.publish(stream, entry);
  }

  /**
   * Subscribes a socket to a stream from the server (for example in `io.on("connection")`),
   * through `authorize` like a client subscription. If the client's handshake carries a
   * position for the stream it is used (recovery, G5); if the socket is already subscribed the
   * current outcome is returned.
   *
   * @example io.on("connection", (socket) => assured.subscribe(socket, `user:${socket.data.userId}`));
   */
  subscribe(
    socket: S,
    stream: string,
    options: ServerSubscribeOptions = {},
  ): Promise<SubscriptionOutcome> {
    // A socket connecting while the server closes is an expected race, not a programming
    // error: it gets a rejected promise, like every other failure of the subscription.
    if (this.#closed) {
      return Promise.reject(new AssuredError("CLOSED", "this Assured server was closed."));
    }
    this.#assertSocket(socket);
    assertStreamName(stream);
    assertKnownOptions(
      options,
      ["from"] satisfies (keyof ServerSubscribeOptions)[],
      "subscribe",
      "ServerSubscribeOptions",
    );
    const from = options.from ?? "head";
    if (from !== "head" && from !== "earliest") {
      throw new AssuredError("INVALID_ARGUMENT", 'from must be "earliest" or "head".');
    }
    const anySocket = socket as AnySocket;
    meterOf(this.#ctx, anySocket);
    attachSocket(this.#ctx, this.#dispatcher, anySocket);
    const state = stateOf(anySocket, this.limits);
    const current = state.subscriptions.get(stream);
    if (current !== undefined) return current.outcome;
    const request = state.handshake.get(stream) ?? { stream, position: null, from };
    return subscribeSocket(this.#ctx, anySocket, request);
  }

  /**
   * Ends a socket's subscription to a stream. If it was subscribed, the client is sent
   * `assured:unsubscribed` (`reason: "server"`) and forgets the stream and its position.
   */
  unsubscribe(socket: S, stream: string): void {
    this.#assertSocket(socket);
    assertStreamName(stream);
    endSubscription(this.#ctx, socket as AnySocket, stream, "server");
  }

  /**
   * Registers the handler of a client message. It runs once per (principal, message id) (G9);
   * what it returns is stored and sent as the result, what it throws is stored and sent as the
   * application error — except an `AssuredError` with a retryable code (`STORE_UNAVAILABLE`,
   * `TIMEOUT`, `RATE_LIMITED`, `LIMIT_EXCEEDED`), which is not stored, so the client retries.
   *
   * @example assured.on("chat:send", async ({ text }, { principal }) => assured.publish("room:1", "chat:message", { text, from: principal }));
   */
  on<K extends keyof M & string>(name: K, handler: MessageHandler<M, K, S>): this {
    assertEventName(name);
    if (name.startsWith(ROOM_PREFIX)) {
      throw new AssuredError("INVALID_ARGUMENT", 'message names must not start with "assured:".');
    }
    if (typeof handler !== "function") {
      throw new AssuredError("INVALID_ARGUMENT", "handler must be a function.");
    }
    this.#dispatcher.register(name, handler as unknown as AnyMessageHandler);
    return this;
  }

  /**
   * A snapshot of the server's figures — publishes, appends, first pages, fetches, dedup outcomes,
   * handler runs and errors, failures, queued messages, sockets, subscriptions — the same as its
   * OpenTelemetry metrics (docs/operations.md), without OpenTelemetry. Counters count since the
   * server was created; each call returns a new object.
   * @example setInterval(() => console.log(assured.stats().dedup), 60_000);
   */
  stats(): ServerStats {
    return this.#ctx.metrics.snapshot();
  }

  /**
   * Detaches from the namespace: stops listening to sockets, stops subscriptions and fetches
   * waiting for their bytes, drops queued client messages (clients resend them), aborts the
   * `context.signal` of running handlers (reason `CLOSED`: they should stop), and waits for
   * pending publishes and running handlers
   * — at most `timeoutMs` (default `limits.closeTimeoutMs`, 10 s): a hung handler or a store
   * that never answers cannot hang shutdown. Whatever is still running then is left to
   * finish on its own. The stores and Socket.IO server stay open (they are the application's).
   *
   * @returns whether everything finished within the wait.
   * @example process.on("SIGTERM", async () => { await assured.close(); io.close(); });
   */
  async close(options: CloseOptions = {}): Promise<boolean> {
    assertKnownOptions(
      options,
      ["timeoutMs"] satisfies (keyof CloseOptions)[],
      "close",
      "CloseOptions",
    );
    const timeoutMs = options.timeoutMs ?? this.limits.closeTimeoutMs;
    if (!(typeof timeoutMs === "number" && Number.isSafeInteger(timeoutMs) && timeoutMs >= 0)) {
      throw new AssuredError("INVALID_ARGUMENT", "timeoutMs must be a non-negative integer.");
    }
    this.#closing ??= this.#close(timeoutMs);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<boolean> {
    this.#closed = true;
    const { nsp } = this.#ctx;
    nsp.off("connection", this.#onConnection);
    this.#stopPacing();
    this.#stopCommits?.();
    for (const socket of nsp.sockets.values()) {
      this.#dispatcher.dropQueued(socket);
      detachSocket(this.#ctx, socket);
      // Stops subscriptions and fetches waiting for bytes, and gives back what they hold.
      closeSocketBudget(this.#ctx, socket);
    }
    this.#ctx.writes.stop();
    // Running handlers are told to stop (`context.signal`, `CLOSED`); their leases are kept.
    this.#dispatcher.abortRunning();
    const settled = Promise.all([this.#publisher.drained(), this.#dispatcher.idle()]).then(
      () => true,
    );
    const finished = await withinTime(settled, timeoutMs);
    // Unregisters the gauges from the meter (they read this namespace's sockets).
    this.#ctx.metrics.close();
    if (finished) log("closed on namespace %s", nsp.name);
    else log("closed on namespace %s after %d ms with work still running", nsp.name, timeoutMs);
    return finished;
  }

  #assertSocket(socket: unknown): void {
    const candidate = socket as { nsp?: unknown; join?: unknown } | null;
    if (
      typeof candidate !== "object" ||
      candidate === null ||
      typeof candidate.join !== "function"
    ) {
      throw new AssuredError("INVALID_ARGUMENT", "expected a socket.io server Socket.");
    }
    if (candidate.nsp !== this.#ctx.nsp) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `the socket belongs to another namespace than ${this.#ctx.nsp.name}, where Assured is attached.`,
      );
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new AssuredError("CLOSED", "this Assured server was closed.");
  }
}

/** Resolves with the promise's value, or false once `ms` passed (one timer, never left behind). */
function withinTime(promise: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const SERVER_OPTION_KEYS: ReadonlySet<string> = new Set([
  "onError",
  "store",
  "dedupStore",
  "authorize",
  "identify",
  "limits",
  "meter",
] satisfies (keyof AssuredServerOptions)[]);

/** Room for a message frame's other fields next to its payload, in bytes. */
const FRAME_OVERHEAD_BYTES = 4096;

/**
 * A message larger than Socket.IO's `maxHttpBufferSize` closes the connection instead of
 * getting an answer, and the client would resend it forever: refuse such a configuration.
 */
function assertFitsTransport(nsp: Namespace, maxPayloadBytes: number): void {
  const engine = (nsp.server as { engine?: { opts?: { maxHttpBufferSize?: unknown } } }).engine;
  const buffer = engine?.opts?.maxHttpBufferSize;
  if (typeof buffer !== "number" || maxPayloadBytes + FRAME_OVERHEAD_BYTES <= buffer) return;
  throw new AssuredError(
    "INVALID_ARGUMENT",
    `limits.maxPayloadBytes (${maxPayloadBytes}) plus ${FRAME_OVERHEAD_BYTES} bytes of frame must fit in Socket.IO's maxHttpBufferSize (${buffer}); lower the limit or raise maxHttpBufferSize.`,
  );
}

function namespaceOf(io: Server | Namespace): Namespace {
  const candidate = io as unknown as { sockets?: unknown; to?: unknown; of?: unknown };
  if (candidate.sockets instanceof Map && typeof candidate.to === "function") {
    return io as Namespace;
  }
  if (typeof candidate.of === "function" && typeof candidate.sockets === "object") {
    return (io as Server).sockets;
  }
  throw new AssuredError("INVALID_ARGUMENT", "expected a socket.io Server or Namespace.");
}

/**
 * Binds Assured to a Socket.IO `Server` or `Namespace`.
 *
 * `M` types client messages (`on`), `E` published events (`publish`). The socket type `S`
 * (`context.socket`, `authorize`, `identify`, `subscribe`) is the typed `io`'s: its events
 * and `socket.data`. TypeScript infers no type argument once some are given, so with
 * `<Messages, Events>` pass the server's type third, `createAssuredServer<Messages, Events,
 * typeof io>(io, options)`, or nothing is inferred from `io` (`socket.data` is `any`).
 *
 * @example
 * const assured = createAssuredServer(io, { store: new MemoryEventStore(), dedupStore: new MemoryDedupStore() });
 * assured.on("chat:send", async (msg, { principal }) => {
 *   const { offset } = await assured.publish("room:1", "chat:message", { ...msg, from: principal });
 *   return { offset };
 * });
 */
export function createAssuredServer<
  M extends MessagesMap = MessagesMap,
  E extends PublishMap = PublishMap,
  IO extends AnyServer = AnyServer,
>(io: IO, options: AssuredServerOptions<SocketOf<IO>>): AssuredServer<M, E, SocketOf<IO>>;
/**
 * Binds Assured to a Socket.IO `Server` or `Namespace`, typing `socket.data` only:
 * `createAssuredServer<Messages, Events, SocketData>(io, options)`.
 */
export function createAssuredServer<
  M extends MessagesMap = MessagesMap,
  E extends PublishMap = PublishMap,
  // biome-ignore lint/suspicious/noExplicitAny: matches Socket.IO's own SocketData default.
  SocketData = any,
>(
  // biome-ignore lint/suspicious/noExplicitAny: accepts any typed-events Server or Namespace.
  io: Server<any, any, any, SocketData> | Namespace<any, any, any, SocketData>,
  // biome-ignore lint/suspicious/noExplicitAny: the socket type of the given Server.
  options: AssuredServerOptions<Socket<any, any, any, SocketData>>,
  // biome-ignore lint/suspicious/noExplicitAny: the socket type of the given Server.
): AssuredServer<M, E, Socket<any, any, any, SocketData>>;
export function createAssuredServer(
  io: AnyServer,
  options: AssuredServerOptions<AnySocket>,
): AssuredServer<MessagesMap, PublishMap, AnySocket> {
  return new AssuredServer(io as Server | Namespace, options);
}
