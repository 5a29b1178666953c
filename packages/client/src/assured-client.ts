import {
  AssuredError,
  encode,
  type Position,
  type RecoveryOutcome,
  type StreamName,
} from "@assured/core";
import {
  assertEventName,
  CLIENT_FEATURES,
  FRAMES,
  type HandshakeAuth,
  type HelloFrame,
  locksFor,
  Outbox,
  PROTOCOL_VERSION,
  parseBatchFrame,
  parseSubscribedFrame,
  Sequencer,
  type SequencerStep,
  type StartFrom,
  type SubscribeRequest,
} from "@assured/core/protocol";
import { assertKnownOptions, assertStreamName } from "@assured/core/store";
import type { Socket } from "socket.io-client";
import { ClientMetrics, type ClientStats } from "./client-metrics.js";
import { ErrorReporter } from "./error-reporter.js";
import { type EventHandler, EventHandlers } from "./event-handlers.js";
import { GapRepair } from "./gap-repair.js";
import { installHandshakeAuth } from "./handshake-auth.js";
import {
  type HistoryEventOf,
  type HistoryOptions,
  type HistoryPage,
  HistoryReader,
  historyRequest,
} from "./history.js";
import { type AssuredClientOptions, type ResolvedOptions, resolveOptions } from "./options.js";
import { OutboxSender } from "./outbox-sender.js";
import { type Judged, mergeJudged, PositionStore } from "./position-store.js";
import { purgeAssuredFrames, refuseUnsupportedSocketOptions } from "./send-buffer.js";
import { ServerPresence } from "./server-presence.js";
import { type SettledResult, toSettled } from "./settled-result.js";
import { isThenable, StreamDelivery } from "./stream-delivery.js";
import { StreamIndex } from "./stream-index.js";
import { SubscribeRetry } from "./subscribe-retry.js";
import type {
  EventDataOf,
  EventsMap,
  Explicit,
  MessageDataOf,
  MessageResultOf,
  MessagesMap,
  SignaturesOf,
} from "./typed-events.js";

/** Options of `subscribe` and `resubscribe`. */
export interface SubscribeOptions {
  /** Without a stored position: replay the retained log (`"earliest"`) or start live (`"head"`, default). */
  from?: StartFrom;
}

/** Options of `emit`. */
export interface EmitOptions {
  /** Your own idempotency key (default: a new random id). */
  id?: string;
}

/**
 * A subscription the server ended (`onUnsubscribed`): `"server"` when the application's server
 * called `assured.unsubscribe`, `"unauthorized"` when its `authorize` no longer allows the
 * stream. The client has forgotten the stream and its stored position; it is not subscribed
 * again on the next connection unless `subscribe` is called again.
 */
export interface SubscriptionEnded {
  stream: StreamName;
  reason: "server" | "unauthorized";
}

/** A message waiting for its answer (also one sent before a reload). */
export interface PendingMessage {
  id: string;
  seq: number;
  name: string;
  createdAt: number;
}

/**
 * Assured on a socket.io-client `Socket`: ordered, deduplicated, recoverable delivery of
 * subscribed streams to handlers (G1–G7), and a persistent outbox whose messages the server
 * handles once, in order (G8–G10). Create it with `createAssuredClient`.
 * `E` types published events (`on`, `off`), `M` client messages (`emit`): the server's maps.
 */
export class AssuredClient<
  E extends SignaturesOf<E> = EventsMap,
  M extends SignaturesOf<M> = MessagesMap,
> {
  readonly #socket: Socket;
  readonly #options: ResolvedOptions;
  readonly #sequencer: Sequencer;
  readonly #positions: PositionStore;
  readonly #handlers = new EventHandlers();
  readonly #errors = new ErrorReporter();
  readonly #delivery: StreamDelivery;
  readonly #gaps: GapRepair;
  readonly #subscribeRetry: SubscribeRetry;
  readonly #serverStreams: StreamIndex;
  readonly #metrics: ClientMetrics;
  readonly #history: HistoryReader;
  /** Streams whose recovery outcome waits for the application's listeners before it is saved. */
  readonly #outcomes = new Map<StreamName, OutcomeState>();
  /** Bumped when a stream restarts or is forgotten: a save decided before is then stale. */
  readonly #generations = new Map<StreamName, number>();
  /**
   * Streams the application unsubscribed while their `assured:subscribed` could still be on its
   * way: that frame must not bring them back as a server-initiated subscription.
   */
  readonly #unsubscribing = new Set<StreamName>();
  /** Wanted subscriptions; `fresh` ones ignore a stored position. */
  readonly #subscriptions = new Map<
    StreamName,
    { from: StartFrom; fresh?: boolean; byServer?: boolean }
  >();
  readonly #recoveryListeners = new Set<(outcome: RecoveryOutcome) => unknown>();
  readonly #resultListeners = new Set<(id: string, result: SettledResult) => void>();
  readonly #endedListeners = new Set<(ended: SubscriptionEnded) => void>();
  readonly #detach: Array<() => void> = [];
  #outbox: Outbox | undefined;
  #sender: OutboxSender | undefined;
  #ready: Promise<void> | undefined;
  /** The outbox opening (by `connect()`, or by an `emit` before it). */
  #opened: Promise<void> | undefined;
  #presence: ServerPresence | undefined;
  #closed = false;
  /** Streams carried by the last handshake. */
  #announced = new Set<StreamName>();

  constructor(socket: Socket, options: AssuredClientOptions = {}) {
    if (typeof socket !== "object" || socket === null || typeof socket.emit !== "function") {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        "createAssuredClient needs a socket.io-client Socket.",
      );
    }
    if (socket.active) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        "the socket is already connecting: create it with { autoConnect: false } and call client.connect().",
      );
    }
    refuseUnsupportedSocketOptions(socket);
    this.#socket = socket;
    this.#options = resolveOptions(options);
    this.#metrics = new ClientMetrics(this.#options.meter, () => this.#outbox?.size ?? 0);
    const locks = this.#options.locks ?? locksFor(this.#options.storage);
    this.#sequencer = new Sequencer({
      maxBuffered: this.#options.maxBufferedEvents,
      fetchLimit: this.#options.fetchLimit,
      maxStreams: this.#options.maxStreams,
      fetchTimeoutMs: this.#options.ackTimeoutMs,
      retry: this.#options.retry,
      random: this.#options.random,
    });
    this.#positions = new PositionStore(
      this.#options.storage,
      locks,
      this.#options.storagePrefix,
      this.#options.privateStorage,
    );
    this.#serverStreams = new StreamIndex(
      this.#options.storage,
      locks,
      this.#options.storagePrefix,
    );
    this.#delivery = new StreamDelivery(
      this.#sequencer,
      this.#handlers,
      this.#errors,
      (s, p) => this.#savePosition(s, p),
      (request) => this.#gaps.fetch(request),
      new Set(this.#options.skipEvents),
      (record) => this.#metrics.delivered(record.time),
    );
    this.#gaps = new GapRepair(
      socket,
      this.#sequencer,
      this.#errors,
      {
        timeoutMs: this.#options.ackTimeoutMs,
        intervalMs: this.#options.positionCheckIntervalMs,
        now: Date.now,
      },
      (stream, step) => this.#apply(stream, step),
    );
    this.#history = new HistoryReader(socket, this.#options.ackTimeoutMs);
    this.#subscribeRetry = new SubscribeRetry(this.#options.retry, this.#options.random, (s) =>
      this.#subscribeAgain(s),
    );
  }

  /** The client id (the default dedup principal); available once `connect()` resolved. */
  get clientId(): string | undefined {
    return this.#outbox?.clientId;
  }

  /**
   * Loads the stored client id, outbox and positions, then connects the socket. Resolves once
   * the socket is connecting (messages can be emitted offline; they are sent when it connects).
   * @throws AssuredError `STORE_UNAVAILABLE` when the storage cannot be read.
   */
  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    this.#ready ??= this.#start();
    return this.#ready;
  }

  /** Opens the outbox once: for `connect()`, or for an `emit` before it (sent on connect). */
  #open(): Promise<void> {
    this.#opened ??= this.#openOutbox();
    return this.#opened;
  }

  async #start(): Promise<void> {
    await this.#open();
    if (this.#closed) return;
    const o = this.#options;
    // Streams the server subscribed this client to in an earlier page life resume from their
    // stored positions like the application's own (DESIGN §8).
    try {
      for (const stream of await this.#serverStreams.load()) {
        if (this.#subscriptions.has(stream) || this.#subscriptions.size >= o.maxStreams) continue;
        this.#subscriptions.set(stream, { from: "head", byServer: true });
      }
    } catch (error) {
      this.#errors.report(error);
    }
    await Promise.all([...this.#subscriptions.keys()].map((stream) => this.#activate(stream)));
    if (this.#closed) return;
    this.#attach();
    this.#socket.connect();
  }

  async #openOutbox(): Promise<void> {
    const o = this.#options;
    this.#outbox = await Outbox.open({
      storage: o.storage,
      prefix: o.storagePrefix,
      ...(o.clientId === undefined ? {} : { clientId: o.clientId }),
      window: o.window,
      maxPending: o.maxPending,
      maxPayloadBytes: o.maxPayloadBytes,
      ackTimeoutMs: o.ackTimeoutMs,
      retry: o.retry,
      random: o.random,
      maxResults: o.maxResults,
      resultTtlMs: o.resultTtlMs,
      maxResultBytes: o.maxResultBytes,
      ...(o.messageTtlMs === undefined ? {} : { messageTtlMs: o.messageTtlMs }),
      ...(o.locks === undefined ? {} : { locks: o.locks }),
      onStorageError: (error) => this.#errors.report(error),
      // Messages adopted from a tab that closed are sent by this one.
      onChange: () => this.#sender?.pump(),
    });
    if (this.#closed) {
      // close() ran while the outbox was opening: release its session for other clients.
      await this.#outbox.close();
      return;
    }
    this.#sender = new OutboxSender(
      this.#socket,
      this.#outbox,
      this.#errors,
      (id, result) => {
        for (const listener of this.#resultListeners)
          this.#errors.guard(() => listener(id, result));
      },
      this.#metrics,
    );
  }

  /**
   * Adds a handler for a published event name. Handlers run one at a time per stream, in
   * offset order; the stream's position advances (and is saved) after they resolve. Returns a
   * function that removes the handler.
   * With typed events (`createAssuredClient<Events, Messages>`) `name` is one of `Events` and
   * `data` its type; without, any name, and `data` is `unknown` or `T` (`on<T>(name, …)`).
   * @example client.on("chat:message", async (data, meta) => render(data, meta.offset));
   */
  on<T extends Explicit<E> = Explicit<E>, K extends keyof E & string = keyof E & string>(
    name: K,
    handler: EventHandler<EventDataOf<E, K, T>>,
  ): () => void;
  on<T = unknown>(name: string, handler: EventHandler<T>): () => void {
    assertEventName(name);
    if (typeof handler !== "function") {
      throw new AssuredError("INVALID_ARGUMENT", "handler must be a function.");
    }
    const remove = this.#handlers.add(name, handler as EventHandler);
    // Streams that waited for a handler of this name go on (nothing was consumed).
    for (const stream of this.#delivery.handlerAdded(name)) this.resume(stream);
    return remove;
  }

  /** Removes a handler added with `on` (typed like `on`). */
  off<T extends Explicit<E> = Explicit<E>, K extends keyof E & string = keyof E & string>(
    name: K,
    handler: EventHandler<EventDataOf<E, K, T>>,
  ): void;
  off<T = unknown>(name: string, handler: EventHandler<T>): void {
    assertEventName(name);
    this.#handlers.remove(name, handler as EventHandler);
  }

  /**
   * Subscribes to a stream. With a stored position it recovers from there (G5); without one it
   * starts at `from`. The outcome is reported to `onRecovery` listeners (G6). Subscribing to a
   * stream already subscribed does nothing.
   * @throws AssuredError `INVALID_STREAM`, `LIMIT_EXCEEDED` beyond `maxStreams`.
   */
  subscribe(stream: StreamName, options: SubscribeOptions = {}): void {
    assertStreamName(stream);
    const from = checkFrom(checkOptions(options, SUBSCRIBE_OPTION_KEYS, "subscribe").from);
    if (this.#closed) throw closedError();
    if (this.#subscriptions.has(stream)) return;
    if (this.#subscriptions.size >= this.#options.maxStreams) {
      throw new AssuredError(
        "LIMIT_EXCEEDED",
        `cannot subscribe to more than ${this.#options.maxStreams} streams; unsubscribe some first.`,
      );
    }
    this.#subscriptions.set(stream, { from });
    if (this.#outbox) void this.#activate(stream);
  }

  /** Unsubscribes and forgets the stream's stored position. */
  unsubscribe(stream: StreamName): void {
    assertStreamName(stream);
    if (!this.#subscriptions.delete(stream)) return;
    const awaited = this.#sequencer.awaitsSubscribed(stream);
    this.#forget(stream);
    if (this.#socket.connected) {
      if (awaited) this.#unsubscribing.add(stream);
      this.#socket.emit(FRAMES.unsubscribe, { stream });
    }
  }

  /** Drops every trace of a stream: tracking, stored position, server-subscription entry. */
  #forget(stream: StreamName): void {
    this.#bump(stream);
    this.#subscriptions.delete(stream);
    this.#subscribeRetry.settled(stream);
    this.#sequencer.untrack(stream);
    this.#outcomes.delete(stream);
    this.#delivery.restarted(stream);
    const report = (e: AssuredError) => this.#errors.report(e);
    this.#positions.remove(stream, report);
    this.#serverStreams.remove(stream, report);
  }

  /**
   * Subscribes again from scratch (the stored position is dropped): the way to resync after an
   * outcome that did not recover (G6), e.g. `resubscribe(stream, { from: "earliest" })`.
   */
  resubscribe(stream: StreamName, options: SubscribeOptions = {}): void {
    assertStreamName(stream);
    const from = checkFrom(checkOptions(options, SUBSCRIBE_OPTION_KEYS, "resubscribe").from);
    if (!this.#subscriptions.has(stream) || !this.#sequencer.has(stream)) {
      // Not tracked yet (its position may still be loading): start over without a position.
      this.#subscriptions.delete(stream);
      this.subscribe(stream, { from });
      const sub = this.#subscriptions.get(stream);
      if (sub) sub.fresh = true;
      this.#positions.remove(stream, (e) => this.#errors.report(e));
      return;
    }
    this.#subscriptions.set(stream, { from });
    this.#restart(stream, null, from);
  }

  /**
   * Delivers again, from the stored position, a stream paused because a handler threw. (A
   * reconnect does the same for every paused stream.)
   */
  resume(stream: StreamName): void {
    assertStreamName(stream);
    const sub = this.#subscriptions.get(stream);
    if (!sub) return;
    const outcome = this.#outcomes.get(stream);
    if (outcome?.failed && outcome.pending === 0) {
      // A recovery listener failed and the application says it has dealt with the outcome.
      outcome.failed = false;
      this.#settleOutcome(stream, outcome);
      return;
    }
    if (!this.#sequencer.isPaused(stream)) return;
    this.#restart(stream, this.#sequencer.position(stream), sub.from);
  }

  /** The position of a subscribed stream: the last offset whose handlers resolved. */
  position(stream: StreamName): Position | null {
    return this.#sequencer.position(stream);
  }

  /**
   * Reads a page of a stream's retained events ("load older messages"): the newest ones with
   * offsets below `before` (default: up to the head), at most `limit` (default 50, or
   * `fetchLimit` if lower; at most `fetchLimit`) and — for large events — at most the server's
   * `maxBatchBytes` of payloads
   * (always at least one), oldest first. `more` tells older events are retained:
   * the next page is `{ before: events[0].offset }`. The server authorizes it like a
   * subscription (`authorize(…, "fetch")`); the stream need not be subscribed, and its delivery
   * and position are not touched. It waits for the socket to connect, within `ackTimeoutMs`.
   * @throws AssuredError `INVALID_STREAM`, `INVALID_OFFSET`, `INVALID_ARGUMENT`; the server's
   * `UNAUTHORIZED`, `RATE_LIMITED`, `STORE_UNAVAILABLE`…; `TIMEOUT` (not connected or no answer
   * within `ackTimeoutMs`); `CODEC_ERROR` (an event cannot be decoded); `CLOSED`.
   * @example const page = await client.history("room:1", { before: oldest, limit: 50 });
   */
  history<T extends Explicit<E> = Explicit<E>>(
    stream: StreamName,
    options?: HistoryOptions,
  ): Promise<HistoryPage<HistoryEventOf<E, T>>>;
  async history(stream: StreamName, options: HistoryOptions = {}): Promise<HistoryPage> {
    if (this.#closed) throw closedError();
    return this.#history.read(historyRequest(stream, options, this.#options.fetchLimit));
  }

  /**
   * Listens to subscription outcomes (G6). Returns a function that removes the listener. A
   * listener may return a promise (the application's resync): the outcome is saved, and the
   * stream's delivery continues, only once every listener's promise resolved — so a reload in
   * the middle of the resync reports the outcome again. A listener that throws or rejects keeps
   * the stream held (reported through `onError`) until `resume(stream)` or `resubscribe(stream)`.
   */
  onRecovery(listener: (outcome: RecoveryOutcome) => unknown): () => void {
    checkListener(listener);
    this.#recoveryListeners.add(listener);
    return () => this.#recoveryListeners.delete(listener);
  }

  /**
   * Listens to every finished message, also those sent before a reload (which no `emit` call
   * waits for). Returns a function that removes the listener.
   */
  onResult(listener: (id: string, result: SettledResult) => void): () => void {
    checkListener(listener);
    this.#resultListeners.add(listener);
    return () => this.#resultListeners.delete(listener);
  }

  /**
   * Listens to subscriptions the server ended or revoked: its `unsubscribe`
   * (`reason: "server"`), or `authorize` no longer allowing a stream the client tracks
   * (`"unauthorized"`: a revocation found by a fetch, or the subscription refused again after a
   * reconnect). The stream is already forgotten, with its stored position, and a reconnect does
   * not subscribe it again. Returns a function that removes the listener. A revocation is also
   * reported to `onError` (`UNAUTHORIZED`).
   */
  onUnsubscribed(listener: (ended: SubscriptionEnded) => void): () => void {
    checkListener(listener);
    this.#endedListeners.add(listener);
    return () => this.#endedListeners.delete(listener);
  }

  /**
   * Listens to errors that have no caller to reject: a handler that threw (`HANDLER_ERROR`,
   * details `{ stream, offset, id, name, error }`), refused subscriptions, storage failures,
   * malformed frames. Without a listener they are printed with `console.error`.
   */
  onError(listener: (error: AssuredError) => void): () => void {
    checkListener(listener);
    return this.#errors.add(listener);
  }

  /**
   * Sends a message to the server handler `name` through the outbox (G8): it is stored before
   * it is sent, resent until answered, and handled once (G9) and in order (G10). Resolves with
   * the handler's result; rejects with `AssuredError` — `HANDLER_ERROR` (what the handler threw
   * is in `details.error`) or the final protocol code (`UNKNOWN_EVENT`, `IDEMPOTENCY_CONFLICT`,
   * `QUOTA_EXCEEDED` (the sender's dedup quota on the server is full; the message did not run),
   * `PAYLOAD_TOO_LARGE`…), `LIMIT_EXCEEDED` when the outbox is full, `CLOSED` after `close()`.
   * With typed messages (`createAssuredClient<Events, Messages>`) `name` is one of `Messages`,
   * `data` its handler's data and the result its handler's result; without, any name and data,
   * and the result is `unknown` or `R` (`emit<R>(name, …)`).
   * @example const saved = await client.emit("chat:send", { room: "1", text: "hi" });
   */
  emit<R extends Explicit<M> = Explicit<M>, K extends keyof M & string = keyof M & string>(
    name: K,
    data: MessageDataOf<M, K>,
    options?: EmitOptions,
  ): Promise<MessageResultOf<M, K, R>>;
  async emit<R = unknown>(name: string, data: unknown, options: EmitOptions = {}): Promise<R> {
    if (this.#closed) throw closedError();
    assertEventName(name);
    checkOptions(options, EMIT_OPTION_KEYS, "emit", "EmitOptions");
    if (name.startsWith("assured:")) {
      throw new AssuredError("INVALID_ARGUMENT", 'message names must not start with "assured:".');
    }
    const payload = encode(data);
    if (payload.byteLength > this.#options.maxPayloadBytes) {
      throw new AssuredError(
        "PAYLOAD_TOO_LARGE",
        `message payload is ${payload.byteLength} bytes; the limit (maxPayloadBytes) is ${this.#options.maxPayloadBytes}. Send less data per message.`,
      );
    }
    // Before connect() the message is stored, and sent once the socket connects.
    if (this.#sender === undefined) {
      await this.#open();
      if (this.#closed) throw closedError();
    }
    const outbox = this.#outbox as Outbox;
    const message = await outbox.add(name, payload, Date.now(), options.id);
    if (this.#closed) throw closedError();
    const sender = this.#sender as OutboxSender;
    const done = sender.wait<R>(message.id);
    sender.pumpSoon();
    return done;
  }

  /** Messages still waiting for an answer, in send order (also those from before a reload). */
  pending(): PendingMessage[] {
    return (this.#outbox?.pending() ?? []).map(({ id, seq, name, createdAt }) => ({
      id,
      seq,
      name,
      createdAt,
    }));
  }

  /**
   * A snapshot of the client's figures — outbox depth, messages sent, retried and answered,
   * events delivered and their delivery lag — the same as its OpenTelemetry metrics
   * (docs/operations.md), without OpenTelemetry. Counters count since the client was created.
   * @example const { outboxDepth, deliveryLagMs } = client.stats();
   */
  stats(): ClientStats {
    return this.#metrics.snapshot();
  }

  /**
   * The answer to a finished message, kept for `resultTtlMs` also across reloads, whichever tab
   * sent it: `{ ok: true, value }` or `{ ok: false, error }` (an `AssuredError` as `emit`
   * would reject); `{ ok: true, omitted: true }` when the value was over `maxResultBytes`.
   * @throws AssuredError `STORE_UNAVAILABLE` when the storage cannot be read.
   */
  async result(id: string): Promise<SettledResult | undefined> {
    if (typeof id !== "string") throw new AssuredError("INVALID_ARGUMENT", "id must be a string.");
    await this.#ready;
    const result = await this.#outbox?.result(id);
    return result ? toSettled(result) : undefined;
  }

  /**
   * Stops timers, disconnects the socket, rejects pending `emit` calls with `CLOSED` (their
   * messages stay in the outbox for the next page life) and waits for storage writes — at most
   * `ackTimeoutMs`, so a storage that never answers cannot hang it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#gaps.stop();
    this.#subscribeRetry.clear();
    this.#delivery.stop();
    this.#history.close(closedError());
    this.#sender?.stop(closedError());
    this.#metrics.close();
    for (const detach of this.#detach.splice(0)) detach();
    purgeAssuredFrames(this.#socket);
    this.#socket.disconnect();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#options.ackTimeoutMs);
    });
    const writes = Promise.all([
      // Also when connect() is still opening the outbox: its session is released once open.
      (async () => {
        await this.#ready?.catch(() => undefined);
        await this.#opened?.catch(() => undefined);
        await this.#outbox?.close();
      })(),
      this.#positions.flush(),
      this.#serverStreams.flush(),
    ]);
    await Promise.race([writes, timeout]).finally(() => clearTimeout(timer));
  }

  // ——— subscriptions ———

  async #activate(stream: StreamName): Promise<void> {
    const sub = this.#subscriptions.get(stream);
    if (!sub) return;
    let position: Position | null = null;
    try {
      if (!sub.fresh) position = await this.#positions.load(stream);
    } catch (error) {
      this.#errors.report(error);
    }
    if (this.#subscriptions.get(stream) !== sub || this.#sequencer.has(stream)) return;
    this.#sequencer.track(stream, position, sub.from);
    if (this.#socket.connected) this.#sendSubscribe({ stream, position, from: sub.from });
  }

  #restart(stream: StreamName, position: Position | null, from: StartFrom): void {
    this.#bump(stream);
    this.#subscribeRetry.settled(stream);
    this.#outcomes.delete(stream);
    this.#delivery.restarted(stream);
    this.#sequencer.restart(stream, position, from);
    if (position === null) this.#positions.remove(stream, (e) => this.#errors.report(e));
    if (this.#socket.connected) this.#sendSubscribe({ stream, position, from });
  }

  #sendSubscribe(request: SubscribeRequest): void {
    this.#socket.emit(FRAMES.subscribe, request);
  }

  #handshake(): HandshakeAuth {
    const subscriptions = this.#sequencer.subscriptions();
    this.#announced = new Set(subscriptions.map((s) => s.stream));
    const auth: HandshakeAuth = {
      v: PROTOCOL_VERSION,
      clientId: this.#outbox?.clientId ?? "",
      subscriptions,
      // It understands `reason: "diverged"` (positions detect divergence, DESIGN §8).
      features: [...CLIENT_FEATURES],
    };
    // Where this outbox session's unanswered messages start: the server refuses one that
    // overtakes an earlier one (send order, G10).
    if (this.#outbox) auth.firstSeq = this.#outbox.firstSeq();
    return auth;
  }

  // ——— socket wiring ———

  #attach(): void {
    const socket = this.#socket;
    this.#detach.push(installHandshakeAuth(socket, () => this.#handshake()));
    const listen = (event: string, listener: (...args: unknown[]) => void) => {
      socket.on(event, listener);
      this.#detach.push(() => socket.off(event, listener));
    };
    listen("connect", () => this.#onConnect());
    listen("disconnect", () => this.#onDisconnect());
    listen(FRAMES.subscribed, (raw: unknown) => this.#errors.guard(() => this.#onSubscribed(raw)));
    listen(FRAMES.batch, (raw: unknown) => this.#errors.guard(() => this.#onBatch(raw)));
    listen(FRAMES.subscribeError, (raw: unknown) => this.#onSubscribeError(raw));
    listen(FRAMES.unsubscribed, (raw: unknown) => this.#onUnsubscribed(raw));
    listen(FRAMES.hello, (raw: unknown) => this.#onHello(raw));
    listen(FRAMES.replies, (raw: unknown) => this.#errors.guard(() => this.#sender?.replies(raw)));
    listen(FRAMES.error, (raw: unknown) => this.#errors.report(AssuredError.fromJSON(raw)));
  }

  #onConnect(): void {
    this.#presence ??= new ServerPresence(this.#options.ackTimeoutMs, (e) =>
      this.#errors.report(e),
    );
    this.#presence.connected();
    // Streams tracked after the handshake was built are subscribed with frames.
    for (const request of this.#sequencer.subscriptions()) {
      if (!this.#announced.has(request.stream)) this.#sendSubscribe(request);
    }
    this.#sender?.connected();
    this.#gaps.start();
  }

  #onDisconnect(): void {
    // A frame emitted while the engine's ping deadline had passed sits in Socket.IO's send
    // buffer, which is written on the next connection *before* the resend of earlier messages
    // (G10): drop it; everything unanswered is resent in order.
    purgeAssuredFrames(this.#socket);
    this.#presence?.stop();
    this.#sequencer.disconnected();
    this.#delivery.disconnected();
    this.#unsubscribing.clear();
    this.#sender?.disconnected();
    this.#gaps.stop();
    this.#subscribeRetry.clear();
  }

  #onSubscribed(raw: unknown): void {
    const frame = parseSubscribedFrame(raw);
    this.#subscribeRetry.settled(frame.stream);
    if (this.#unsubscribing.delete(frame.stream)) return; // answers a request since withdrawn
    if (!this.#subscriptions.has(frame.stream)) {
      // A server-initiated subscription: track it, and carry its position in later handshakes.
      if (this.#subscriptions.size >= this.#options.maxStreams) return;
      this.#subscriptions.set(frame.stream, { from: "head", byServer: true });
      this.#sequencer.track(frame.stream, null, "head");
    }
    // Stored again at every (re)subscription: another tab may have dropped it from the shared
    // list when the server ended its own subscription.
    if (this.#subscriptions.get(frame.stream)?.byServer) {
      this.#serverStreams.add(frame.stream, (e) => this.#errors.report(e));
    }
    this.#apply(frame.stream, this.#sequencer.subscribed(frame));
  }

  #onBatch(raw: unknown): void {
    const batch = parseBatchFrame(raw);
    this.#apply(batch.stream, this.#sequencer.receive(batch));
  }

  #onSubscribeError(raw: unknown): void {
    const frame = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
    const error = AssuredError.fromJSON(frame.error);
    const stream = typeof frame.stream === "string" ? frame.stream : undefined;
    this.#errors.report(
      new AssuredError(error.code, error.message, { details: { ...error.details, stream } }),
    );
    if (stream === undefined || !this.#subscriptions.has(stream)) return;
    if (error.code === "UNAUTHORIZED") {
      // Final: a stream the client may no longer read is forgotten, with its stored position.
      this.#forget(stream);
      this.#ended(stream, "unauthorized");
      return;
    }
    if (this.#socket.connected && SubscribeRetry.retryable(error.code)) {
      this.#subscribeRetry.refused(stream);
    }
  }

  /** Tells the `onUnsubscribed` listeners that the server ended or revoked a tracked stream. */
  #ended(stream: StreamName, reason: SubscriptionEnded["reason"]): void {
    const ended: SubscriptionEnded = { stream, reason };
    for (const listener of this.#endedListeners) this.#errors.guard(() => listener(ended));
  }

  /** The server ended a subscription (its `unsubscribe`, or `authorize` revoked it): forget it. */
  #onUnsubscribed(raw: unknown): void {
    const frame = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
    if (typeof frame.stream !== "string" || !this.#subscriptions.has(frame.stream)) return;
    this.#forget(frame.stream);
    this.#ended(frame.stream, frame.reason === "unauthorized" ? "unauthorized" : "server");
    if (frame.reason === "unauthorized") {
      this.#errors.report(
        new AssuredError(
          "UNAUTHORIZED",
          `the server ended the subscription to ${JSON.stringify(frame.stream)}: it is no longer authorized.`,
          { details: { stream: frame.stream } },
        ),
      );
    }
  }

  /**
   * The server's version and limits: a server of another protocol version is reported (its
   * frames would be misread); `messageTtlMs` beyond its dedup window could never be honoured.
   */
  #onHello(raw: unknown): void {
    this.#presence?.stop();
    const version = (raw as Partial<HelloFrame> | null)?.v;
    if (version !== PROTOCOL_VERSION) {
      // A version 1 server sends no `v`; it also refuses this client's handshake (BAD_FRAME).
      const peerVersion = typeof version === "number" ? version : 1;
      this.#errors.report(
        new AssuredError(
          "PROTOCOL_VERSION",
          `the server speaks Assured protocol version ${peerVersion}, this client speaks version ${PROTOCOL_VERSION}: upgrade ${peerVersion < PROTOCOL_VERSION ? "@assured/server" : "@assured/client"} so both speak the same version. Nothing is delivered on this connection.`,
          { details: { version: PROTOCOL_VERSION, peerVersion } },
        ),
      );
    }
    const window = (raw as Partial<HelloFrame> | null)?.dedupTtlMs;
    const ttl = this.#options.messageTtlMs;
    if (typeof window !== "number" || ttl === undefined || ttl <= window) return;
    this.#errors.report(
      new AssuredError(
        "INVALID_ARGUMENT",
        `messageTtlMs (${ttl} ms) is longer than the server's dedup window (${window} ms): the server answers EXPIRED to messages older than its window, so set messageTtlMs to at most ${window}.`,
        { details: { messageTtlMs: ttl, dedupTtlMs: window } },
      ),
    );
  }

  /** Sends `assured:sub` again, from the current position, after a retryable refusal. */
  #subscribeAgain(stream: StreamName): void {
    const sub = this.#subscriptions.get(stream);
    if (this.#closed || !sub || !this.#socket.connected || !this.#sequencer.has(stream)) return;
    if (this.#sequencer.isPaused(stream)) return;
    this.#sendSubscribe({ stream, position: this.#sequencer.position(stream), from: sub.from });
  }

  #apply(stream: StreamName, step: SequencerStep): void {
    if (step.outcome) {
      const judged = step.correction === undefined ? undefined : [step.correction.judged];
      this.#reportOutcome(stream, step.outcome, judged);
    }
    // The log diverged under the stream (seen live): the server judges the position again.
    if (step.resubscribe && this.#socket.connected) this.#sendSubscribe(step.resubscribe);
    if (step.fetch) this.#gaps.fetch(step.fetch);
    void this.#delivery.drain(stream);
  }

  /**
   * Runs the recovery listeners, then saves the outcome's position — only once they all
   * finished, so a reload during the application's resync reports the outcome again (DESIGN
   * §8). Until then the stream's delivery is held (its handlers would save the new position).
   */
  #reportOutcome(stream: StreamName, outcome: RecoveryOutcome, judged?: Judged): void {
    const generation = this.#generations.get(stream) ?? 0;
    const running: PromiseLike<unknown>[] = [];
    let failed = false;
    for (const listener of this.#recoveryListeners) {
      try {
        const result = listener({ ...outcome, position: { ...outcome.position } });
        if (isThenable(result)) running.push(result);
      } catch (error) {
        failed = true;
        this.#errors.report(listenerError(stream, error));
      }
    }
    // A listener that resubscribed or unsubscribed the stream decided what is stored now.
    if ((this.#generations.get(stream) ?? 0) !== generation) return;
    // An outcome that did not recover corrects the stored position (see `PositionStore`).
    let state = this.#outcomes.get(stream);
    if (state === undefined && running.length === 0 && !failed) {
      this.#savePosition(stream, outcome.position, judged);
      return;
    }
    if (state === undefined) {
      state = { pending: 0, failed: false, judged: [] };
      this.#outcomes.set(stream, state);
    }
    const current = state;
    current.failed ||= failed;
    if (judged) current.judged = mergeJudged(current.judged, judged);
    current.pending += running.length;
    this.#delivery.hold(stream);
    for (const result of running) {
      Promise.resolve(result)
        .catch((error: unknown) => {
          current.failed = true;
          this.#errors.report(listenerError(stream, error));
        })
        .finally(() => {
          current.pending--;
          this.#settleOutcome(stream, current);
        });
    }
    this.#settleOutcome(stream, current);
  }

  /** Saves the stream's position and resumes its delivery once its outcome is handled. */
  #settleOutcome(stream: StreamName, state: OutcomeState): void {
    if (this.#outcomes.get(stream) !== state || state.pending > 0 || state.failed) return;
    this.#outcomes.delete(stream);
    const position = this.#sequencer.position(stream);
    if (position) {
      this.#savePosition(stream, position, state.judged.length === 0 ? undefined : state.judged);
    }
    this.#delivery.release(stream);
    void this.#delivery.drain(stream);
  }

  #bump(stream: StreamName): void {
    this.#generations.set(stream, (this.#generations.get(stream) ?? 0) + 1);
  }

  #savePosition(stream: StreamName, position: Position, judged?: Judged): void {
    this.#positions.save(stream, position, this.#reportError, judged);
  }

  /** Reports a failed position write (one function for every save). */
  readonly #reportError = (error: AssuredError): void => this.#errors.report(error);
}

/**
 * Binds Assured to a socket.io-client `Socket` created with `{ autoConnect: false }`.
 * `E` types published events (`on`), `M` client messages (`emit`), with the maps the server's
 * `createAssuredServer<M, E>` takes: `createAssuredClient<ChatEvents, ChatMessages>(socket)`.
 *
 * @example
 * const socket = io("https://example.com", { autoConnect: false });
 * const client = createAssuredClient(socket, { storage: webStorage(localStorage) });
 * client.on("chat:message", (msg, meta) => show(msg));
 * client.subscribe("room:1", { from: "earliest" });
 * await client.connect();
 * await client.emit("chat:send", { room: "1", text: "hi" });
 */
export function createAssuredClient<
  E extends SignaturesOf<E> = EventsMap,
  M extends SignaturesOf<M> = MessagesMap,
>(socket: Socket, options: AssuredClientOptions = {}): AssuredClient<E, M> {
  return new AssuredClient<E, M>(socket, options);
}

/** A recovery outcome whose listeners still run; `judged`: the positions its corrections judged. */
interface OutcomeState {
  pending: number;
  failed: boolean;
  judged: Judged;
}

function checkFrom(from: unknown): StartFrom {
  if (from === undefined) return "head";
  if (from !== "earliest" && from !== "head") {
    throw new AssuredError("INVALID_ARGUMENT", 'from must be "earliest" or "head".');
  }
  return from;
}

const SUBSCRIBE_OPTION_KEYS: readonly string[] = ["from"] satisfies (keyof SubscribeOptions)[];
const EMIT_OPTION_KEYS: readonly string[] = ["id"] satisfies (keyof EmitOptions)[];

/** Throws `INVALID_ARGUMENT` unless `options` is an object of `known` keys; returns it. */
function checkOptions<T>(
  options: T,
  known: readonly string[],
  what: string,
  typeName = "SubscribeOptions",
): T {
  assertKnownOptions(options, known, what, typeName);
  return options;
}

function checkListener(listener: unknown): void {
  if (typeof listener !== "function") {
    throw new AssuredError("INVALID_ARGUMENT", "listener must be a function.");
  }
}

function listenerError(stream: StreamName, error: unknown): AssuredError {
  const message = error instanceof Error ? error.message : String(error);
  return new AssuredError(
    "HANDLER_ERROR",
    `a recovery listener of ${JSON.stringify(stream)} failed: ${message}. The outcome is not saved and the stream waits: call resume(stream) once it is dealt with, or resubscribe(stream).`,
    { details: { stream, error }, cause: error },
  );
}

function closedError(): AssuredError {
  return new AssuredError("CLOSED", "the Assured client was closed; create a new one.");
}
