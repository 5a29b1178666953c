import { AssuredError, type AssuredErrorData, decode, isAssuredError } from "@assured/core";
import {
  type AheadClaim,
  assertBoundedMessagePack,
  Deduplicator,
  type DedupRun,
  dedupKey,
  type MessageFrame,
  type MessageReply,
} from "@assured/core/protocol";
import type { StoredResponse } from "@assured/core/store";
import createDebug from "debug";
import type { ServerContext } from "./context.js";
import { messageFingerprintSync } from "./fingerprint.js";
import { HandlerContext } from "./handler-context.js";
import { runHandler } from "./handler-run.js";
import { expiredError } from "./message-expiry.js";
import type { DedupOutcome } from "./metrics.js";
import type { MessageContext } from "./options.js";
import { type SocketState, stateOf } from "./socket-state.js";
import { type AnySocket, toErrorData } from "./wire.js";

const log = createDebug("assured:server:messages");

/** A registered handler, untyped. */
export type AnyMessageHandler = (data: unknown, context: MessageContext<AnySocket>) => unknown;

type Ack = (reply: MessageReply) => void;

/** How a turn's run claims its key, and whom it tells once its response is known. */
interface RunClaim {
  /** The key's claim made ahead, if any. */
  ahead: AheadClaim | undefined;
  /** Called once the handler's response is known and its store write issued. */
  onHandled: () => void;
}

/** A message whose turn is running, and how to give up on it. */
interface RunningTurn {
  deadline: number;
  expire(): void;
}

/** The reason a running handler's signal is aborted with when the server closes. */
const closingError = () =>
  new AssuredError("CLOSED", "the Assured server is closing; the message will be sent again.");

/**
 * Client messages (G8–G10): a bounded serial queue per socket, in arrival order; each message
 * runs once per (principal, id) through core's `Deduplicator` (G9).
 */
export class MessageDispatcher {
  readonly #ctx: ServerContext;
  readonly #handlers = new Map<string, AnyMessageHandler>();
  readonly #dedup: Deduplicator;
  /** Sockets draining their queue, plus replies waiting for their responses to be stored. */
  #running = 0;
  /** Turns running now (one handler per socket, plus replies waiting for their store writes), for the `handlerTimeoutMs` watchdog. */
  readonly #turns = new Set<RunningTurn>();
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #idle: (() => void)[] = [];

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
    // Leases are renewed while a handler runs, so a copy of a running message waits for it
    // (on this node or through the store) as long as a turn may last.
    this.#dedup = new Deduplicator(ctx.dedupStore, {
      leaseMs: ctx.limits.leaseMs,
      ttlMs: ctx.limits.dedupTtlMs,
      maxWaitMs: ctx.limits.handlerTimeoutMs,
    });
  }

  /** Registers the handler of a message name. */
  register(name: string, handler: AnyMessageHandler): void {
    if (this.#handlers.has(name)) {
      throw new AssuredError("INVALID_ARGUMENT", `a handler for "${name}" is already registered.`);
    }
    this.#handlers.set(name, handler);
  }

  /**
   * Queues a parsed message behind the socket's earlier ones; replies through `ack`. A name
   * without a handler throws `UNKNOWN_EVENT` (checked at arrival: it needs no store). The payload
   * stays encoded until the message's turn (decoded data can be many times larger than its
   * bytes), and the queue is bounded by `maxQueuedMessages` and `maxQueuedBytes` (G11).
   */
  enqueue(socket: AnySocket, message: MessageFrame, ack: Ack): void {
    if (!this.#handlers.has(message.name)) {
      throw new AssuredError(
        "UNKNOWN_EVENT",
        `no handler is registered for "${message.name}"; register it with assured.on().`,
      );
    }
    // A cheap scan that allocates nothing: a payload that cannot decode is refused now
    // (CODEC_ERROR) instead of taking a place in the queue; it is decoded at its turn.
    assertBoundedMessagePack(message.payload);
    const state = stateOf(socket, this.#ctx.limits);
    const { maxQueuedMessages, maxQueuedBytes } = this.#ctx.limits;
    // Decided at arrival too, so a message behind a refused one never takes its place (G10).
    const refusal = state.retryBarrier.atArrival(message.seq);
    if (refusal !== undefined) {
      ack({ id: message.id, ok: false, error: refusal });
      return;
    }
    const bytes = message.payload.byteLength + message.id.length + message.name.length;
    const full =
      state.queue.length >= maxQueuedMessages ||
      (state.queue.length > 0 && state.queuedBytes + bytes > maxQueuedBytes);
    if (full) {
      const error = new AssuredError(
        "LIMIT_EXCEEDED",
        `more than ${maxQueuedMessages} messages or ${maxQueuedBytes} bytes would be queued on this socket (maxQueuedMessages, maxQueuedBytes); retry later.`,
      ).toJSON();
      state.retryBarrier.note(message.seq, error);
      ack({ id: message.id, ok: false, error });
      return;
    }
    // A payload that waits must not keep a larger receive buffer alive through its view.
    const queued = state.busy ? { ...message, payload: compact(message.payload) } : message;
    const arrivedAt = performance.now();
    // Hashed once, for the claim made ahead and the turn.
    const fingerprint = messageFingerprintSync(message.name, message.payload);
    const ahead = this.#claimAhead(socket, state, queued, fingerprint);
    state.queue.push({
      bytes,
      run: () => this.#turn(socket, queued, fingerprint, ack, arrivedAt, ahead),
      drop: () => {
        if (ahead instanceof Promise) void ahead.then((claim) => claim?.discard());
        else ahead?.discard();
      },
    });
    state.queuedBytes += bytes;
    this.#ctx.metrics.queued(1);
    if (!state.busy) void this.#drain(socket);
  }

  /**
   * Claims a queued message's key now, ahead of its turn, when the store writes batches: the
   * claims of messages queued in the same turn of the event loop go to the store together, and
   * the lease of each is renewed until its turn (`Deduplicator.claimAhead`). Handlers still run
   * one at a time in order (G10). A message already too old to run, or whose principal is not
   * known, is claimed at its turn as before.
   */
  #claimAhead(
    socket: AnySocket,
    state: SocketState,
    message: MessageFrame,
    fingerprint: string,
  ): AheadClaim | Promise<AheadClaim | undefined> | undefined {
    if (!this.#dedup.batches) return undefined;
    if (expiredError(message, 0, this.#ctx.limits.dedupTtlMs) !== undefined) return undefined;
    const { maxDedupEntriesPerPrincipal: maxEntries } = this.#ctx.limits;
    const claim = (principal: string) =>
      this.#dedup.claimAhead(dedupKey(principal, message.id), fingerprint, {
        id: principal,
        maxEntries,
      });
    // Known after the socket's first message: claimed now, without a promise per message.
    const known = state.principalKnown;
    if (known !== undefined) return claim(known);
    return this.principal(socket).then(claim, () => undefined);
  }

  /** Drops the messages a disconnected socket had queued (the client resends them). */
  dropQueued(socket: AnySocket): void {
    const state = stateOf(socket, this.#ctx.limits);
    // Keys claimed ahead are released now: a resend on another node must not wait a lease.
    for (const queued of state.queue) queued.drop();
    this.#ctx.metrics.queued(-state.queue.length);
    state.queue.length = 0;
    state.queuedBytes = 0;
  }

  /**
   * Aborts the `context.signal` of every handler running on this server (`CLOSED`): they should
   * stop. Their leases are kept until they settle; one that still returns has its answer stored.
   */
  abortRunning(): void {
    this.#dedup.abortRunning(closingError());
  }

  /** Resolves once no message is being handled. */
  idle(): Promise<void> {
    if (this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #drain(socket: AnySocket): Promise<void> {
    const state = stateOf(socket, this.#ctx.limits);
    state.busy = true;
    this.#running++;
    try {
      for (let next = state.queue.shift(); next !== undefined; next = state.queue.shift()) {
        state.queuedBytes = Math.max(0, state.queuedBytes - next.bytes);
        this.#ctx.metrics.queued(-1);
        try {
          await next.run();
        } catch (error) {
          log("reply failed on socket %s: %o", socket.id, error);
        }
      }
    } finally {
      state.busy = false;
      this.#settled();
    }
  }

  /** One socket's drain or one stored reply is over: `idle()` resolves once none is left. */
  #settled(): void {
    this.#running--;
    if (this.#running === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Waits until fewer than `maxUnstoredResponses` of the socket's replies wait for their store writes. */
  async #roomForUnstored(state: SocketState): Promise<void> {
    // One waiter at most: only the socket's drain moves on (no race over every pending reply).
    while (state.unstored >= this.#ctx.limits.maxUnstoredResponses) {
      await new Promise<void>((resolve) => {
        state.unstoredWaiter = () => {
          state.unstoredWaiter = undefined;
          resolve();
        };
      });
    }
  }

  /**
   * One message's turn in the socket's queue, bounded by `handlerTimeoutMs` (not by the lease:
   * a live handler's lease is renewed, so a slow handler neither times out nor runs twice). A
   * turn still running then is given up: the handler's signal aborts, its claim is released (a
   * resend may run the message again, G9), the client gets a retryable `TIMEOUT`, and the
   * socket's later messages are not blocked forever. No timer per message: one watchdog for
   * the whole dispatcher checks the running turns.
   *
   * The turn ends once the handler's response is known and its store write issued (the reply
   * is sent when the write answered, `#moveOn`), or once the reply was sent.
   */
  async #turn(
    socket: AnySocket,
    message: MessageFrame,
    fingerprint: string,
    ack: Ack,
    arrivedAt: number,
    aheadClaim: AheadClaim | Promise<AheadClaim | undefined> | undefined,
  ): Promise<void> {
    const ahead = aheadClaim instanceof Promise ? await aheadClaim : aheadClaim;
    const { handlerTimeoutMs } = this.#ctx.limits;
    // One controller per socket, used by its turns one after another (they run one at a
    // time) and replaced once a turn is given up: no AbortController per message.
    const state = stateOf(socket, this.#ctx.limits);
    state.giveUp ??= new AbortController();
    const giveUp = state.giveUp;
    // Set once the handler's response is known: the turn then only waits for its store write.
    let handled = false;
    // Set once the reply left (or the turn ended without one): the turn is over.
    let over = false;
    // Whether this turn counts among the socket's replies waiting for their store writes.
    let unstored = false;
    // Wakes the socket's drain, waiting for this turn to be handled or over.
    let wake: (() => void) | undefined;
    const finish = () => {
      if (over) return;
      over = true;
      this.#turns.delete(turn);
      // Not taken by the run (refused at its turn, joined a running copy): released now.
      ahead?.discard();
      if (unstored) {
        state.unstored--;
        state.unstoredWaiter?.();
        this.#settled();
      }
      wake?.();
    };
    // Replies leave in send order: after the socket's earlier replies (which may still wait
    // for their responses to be stored).
    const slot = state.replyOrder.open(ack, finish);
    const expire = () => {
      log(
        "message %s took longer than handlerTimeoutMs (%d ms); given up, the queue moves on",
        message.id,
        handlerTimeoutMs,
      );
      const timeout = new AssuredError(
        "TIMEOUT",
        handled
          ? `the response of message ${message.id} was not stored within handlerTimeoutMs (${handlerTimeoutMs} ms); retry later.`
          : `the handler of message ${message.id} did not finish within handlerTimeoutMs (${handlerTimeoutMs} ms); retry later.`,
      );
      // A handled message's controller may be a later message's already: it is left alone.
      if (!handled) {
        if (state.giveUp === giveUp) state.giveUp = undefined;
        giveUp.abort(timeout);
      }
      this.#ctx.report({
        kind: "handler",
        error: timeout,
        operation: "message",
        socket,
        message: { id: message.id, name: message.name },
      });
      const error = timeout.toJSON();
      state.retryBarrier.note(message.seq, error);
      state.replyOrder.answer(slot, { id: message.id, ok: false, error });
    };
    // Monotonic: a step of the wall clock must not time out every running handler (forward) or
    // let a hung one block the socket's queue for the size of the step (backward).
    const turn: RunningTurn = { deadline: performance.now() + handlerTimeoutMs, expire };
    this.#turns.add(turn);
    this.#watchdog ??= this.#startWatchdog(handlerTimeoutMs);
    const onHandled = () => {
      handled = true;
      // Its answer is final (a result or an application error): the socket's next message,
      // which may run now, does not wait for its retry (G10).
      state.retryBarrier.note(message.seq, undefined);
      wake?.();
    };
    // The reply: the handler's, or a timeout's when the turn is given up first. A run that
    // fails sends nothing (the client sends the message again) and ends the turn at once.
    const failed = (error: unknown) => {
      log("reply failed on socket %s: %o", socket.id, error);
      finish();
      state.replyOrder.skip(slot);
    };
    try {
      this.#handle(socket, message, fingerprint, arrivedAt, giveUp.signal, {
        ahead,
        onHandled,
      }).then((reply) => state.replyOrder.answer(slot, reply), failed);
    } catch (error) {
      failed(error);
    }
    if (!handled && !over) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
    if (over) return;
    // Handled, its reply waiting for its store write: the socket's next message may run now,
    // while fewer than `maxUnstoredResponses` of its replies wait so.
    unstored = true;
    this.#running++;
    state.unstored++;
    if (state.unstored >= this.#ctx.limits.maxUnstoredResponses) {
      await this.#roomForUnstored(state);
    }
  }

  /** Checks the running turns every `min(handlerTimeoutMs, 1 s)`; stops itself once none runs. */
  #startWatchdog(handlerTimeoutMs: number): ReturnType<typeof setInterval> {
    const timer = setInterval(
      () => {
        if (this.#turns.size === 0) {
          clearInterval(timer);
          this.#watchdog = undefined;
          return;
        }
        const now = performance.now();
        for (const turn of this.#turns) {
          if (turn.deadline > now) continue;
          this.#turns.delete(turn);
          turn.expire();
        }
      },
      Math.min(handlerTimeoutMs, 1_000),
    );
    (timer as { unref?: () => void }).unref?.();
    return timer;
  }

  /** A message's turn once its claim is known: refused, undecodable, or run (`#run`). */
  #handle(
    socket: AnySocket,
    message: MessageFrame,
    fingerprint: string,
    arrivedAt: number,
    giveUp: AbortSignal,
    claim: RunClaim,
  ): Promise<MessageReply> {
    const state = stateOf(socket, this.#ctx.limits);
    const refusal = state.retryBarrier.atTurn(message.seq);
    if (refusal !== undefined) {
      return Promise.resolve({ id: message.id, ok: false, error: refusal });
    }
    // Decoded at its turn, not at arrival: only the running message's data is in memory.
    let data: unknown;
    try {
      data = decode(message.payload);
    } catch (error) {
      const where = {
        operation: "message",
        socket,
        message: { id: message.id, name: message.name },
      };
      const reply: MessageReply = {
        id: message.id,
        ok: false,
        error: this.#ctx.answer(error, where),
      };
      state.retryBarrier.note(message.seq, reply.error);
      return Promise.resolve(reply);
    }
    return this.#run(socket, message, fingerprint, data, arrivedAt, giveUp, claim);
  }

  /**
   * Runs the handler through the dedup store. A message too old to run (`message-expiry.ts`) is
   * still looked up there first: the `DedupStore` contract has no read-only lookup, so it is
   * claimed like any message with a handler that refuses (`EXPIRED`), whose claim `runOnce`
   * releases at once. A stored answer (or a copy still running) is returned as for any
   * duplicate; otherwise the reply is `EXPIRED` and nothing ran. `giveUp` aborts at
   * `handlerTimeoutMs`: the run is abandoned (its claim released, nothing stored). The reply is
   * noted in the socket's retry barrier (G10) before it is returned.
   */
  async #run(
    socket: AnySocket,
    message: MessageFrame,
    fingerprint: string,
    data: unknown,
    arrivedAt: number,
    giveUp: AbortSignal,
    { ahead, onHandled }: RunClaim,
  ): Promise<MessageReply> {
    const { id, seq, name } = message;
    const state = stateOf(socket, this.#ctx.limits);
    // What the handler threw, reported once as `handler` (not again as a store failure).
    const thrown: Thrown = { errors: undefined };
    // Whether the message reached the dedup store (not refused before: identify failed).
    let looked = false;
    let reply: MessageReply;
    const expired = expiredError(
      message,
      performance.now() - arrivedAt,
      this.#ctx.limits.dedupTtlMs,
    );
    try {
      const principal = state.principalKnown ?? (await this.principal(socket));
      const key = dedupKey(principal, id);
      const handler = this.#handlers.get(name)!;
      const { maxDedupEntriesPerPrincipal: maxEntries } = this.#ctx.limits;
      const failed = (error: unknown) => {
        if (thrown.errors === undefined) thrown.errors = [error];
        else thrown.errors.push(error);
        this.#ctx.metrics.handlerError(name);
        this.#ctx.report({
          kind: "handler",
          error,
          operation: "message",
          socket,
          principal,
          message: { id, name },
        });
      };
      const run =
        expired === undefined
          ? (dedupRun: DedupRun) =>
              runHandler(
                handler,
                data,
                new HandlerContext(socket, principal, id, seq, dedupRun),
                failed,
                (ms, ok) => this.#ctx.metrics.handled(name, ms, ok),
              )
          : () => Promise.reject(expired);
      looked = true;
      const outcome = await this.#dedup.run(key, fingerprint, run, {
        owner: { id: principal, maxEntries },
        signal: giveUp,
        ahead: ahead?.key === key ? ahead : undefined,
        // The socket's next message may run while this response is written (`#moveOn`).
        onHandled,
        // Waiting for another copy of this message: the socket's later messages give up their
        // claims made ahead (claimed again at their turns), so that copy's socket, which may
        // be waiting for one of them, is not stalled until the wait bound (no wait cycle).
        onWait: () => {
          for (const queued of state.queue) queued.drop();
        },
      });
      this.#ctx.metrics.dedupOutcome(outcome.duplicate ? "duplicate" : "claimed");
      if (outcome.duplicate) log("message %s of %o answered from the dedup store", id, principal);
      else if (!outcome.stored) log("response of message %s could not be stored", id);
      reply = toReply(id, outcome.response);
    } catch (error) {
      if (looked) this.#ctx.metrics.dedupOutcome(dedupFailure(error, expired, thrown));
      reply = this.#failedReply(error, socket, message, expired, thrown);
    }
    state.retryBarrier.note(seq, reply.ok || reply.stored === true ? undefined : reply.error);
    return reply;
  }

  /** The reply to a message whose run rejected (`#run`), logged. */
  #failedReply(
    error: unknown,
    socket: AnySocket,
    { id, seq, name }: MessageFrame,
    expired: AssuredError | undefined,
    thrown: Thrown,
  ): MessageReply {
    if (!(error instanceof AssuredError)) log("message %s failed: %o", id, error);
    // A message refused again and again (its dedup entry stuck, the store down) shows here.
    else if (error !== expired)
      log("message %s of seq %d: %s %s", id, seq, error.code, error.message);
    if (expired !== undefined && error === expired) {
      log("message %s of seq %d expired: %o", id, seq, expired.details);
    }
    if (isAssuredError(error, "LEASE_LOST")) return { id, ok: false, error: leaseLost(id) };
    if (isAssuredError(error, "QUOTA_EXCEEDED")) {
      // An expired message holds no entry (a stored one is answered whatever the quota).
      return { id, ok: false, error: expired?.toJSON() ?? this.#quota() };
    }
    const where = { operation: "message", socket, message: { id, name } };
    if (wasThrown(thrown, error)) return { id, ok: false, error: toErrorData(error) };
    // Not the handler's: a `LIMIT_EXCEEDED` here is the dedup store's bound on all its keys
    // (a full store, which an operator must raise): the client retries, the server reports it.
    if (isAssuredError(error, "LIMIT_EXCEEDED")) {
      this.#ctx.report({ kind: "store", error, ...where });
      return { id, ok: false, error: toErrorData(error) };
    }
    return { id, ok: false, error: this.#ctx.answer(error, where) };
  }

  /** The final error for a message beyond its principal's dedup quota, saying what to do. */
  #quota(): AssuredErrorData {
    const { maxDedupEntriesPerPrincipal: maxEntries, dedupTtlMs } = this.#ctx.limits;
    return new AssuredError(
      "QUOTA_EXCEEDED",
      `this message was not run: its sender already has ${maxEntries} messages within the ` +
        `dedup window (limits.maxDedupEntriesPerPrincipal, kept ${dedupTtlMs} ms). It will not ` +
        "be retried; send it again as a new message once earlier ones have left the window, " +
        "or ask the server's operator to raise the limit.",
      { details: { maxEntries, dedupTtlMs } },
    ).toJSON();
  }

  /** The socket's dedup principal, resolved once (it also keys the socket's rate-limit bucket). */
  principal(socket: AnySocket): Promise<string> {
    const state = stateOf(socket, this.#ctx.limits);
    state.principal ??= this.#identify(socket).then(
      (principal) => {
        state.principalKnown = principal;
        return principal;
      },
      (error: unknown) => {
        state.principal = undefined;
        throw error;
      },
    );
    return state.principal;
  }

  async #identify(socket: AnySocket): Promise<string> {
    const { identify } = this.#ctx;
    if (identify === undefined) {
      const { clientId } = stateOf(socket, this.#ctx.limits);
      if (clientId === undefined) {
        throw new AssuredError(
          "BAD_FRAME",
          "the handshake carries no auth.assured.clientId and the server has no identify hook.",
        );
      }
      return clientId;
    }
    try {
      const principal = await identify(socket);
      dedupKey(principal, "x");
      return principal;
    } catch (error) {
      log("identify failed for socket %s: %o", socket.id, error);
      this.#ctx.report({ kind: "hook", error, operation: "identify", socket });
      throw new AssuredError("UNAUTHORIZED", "the server could not identify this client.");
    }
  }
}

/**
 * The reply for a run that lost its lease: `TIMEOUT`, which every client retries (`LEASE_LOST`
 * is unknown to older clients); the retry gets the answer of the run that holds the message.
 */
function leaseLost(id: string): AssuredErrorData {
  return new AssuredError(
    "TIMEOUT",
    `the handler of message ${id} lost its dedup lease (taken over, or not renewed in time); retry later.`,
    { details: { reason: "LEASE_LOST" } },
  ).toJSON();
}

/**
 * The dedup outcome of a message whose run rejected: the handler ran and threw a retryable
 * error (`claimed`), too old to run, another message under its id, its sender's quota, or a
 * failure of the claim (store, lease, timeout).
 */
function dedupFailure(error: unknown, expired: unknown, thrown: Thrown): DedupOutcome {
  if (wasThrown(thrown, error)) return "claimed";
  if (expired !== undefined && error === expired) return "expired";
  if (isAssuredError(error, "IDEMPOTENCY_CONFLICT")) return "conflict";
  if (isAssuredError(error, "QUOTA_EXCEEDED")) return "quota";
  return "failed";
}

/** What a message's handler threw during its run (rarely anything: no collection per message). */
interface Thrown {
  errors: unknown[] | undefined;
}

function wasThrown(thrown: Thrown, error: unknown): boolean {
  return thrown.errors?.includes(error) === true;
}

function toReply(id: string, response: StoredResponse): MessageReply {
  return response.ok
    ? { id, ok: true, payload: response.payload }
    : { id, ok: false, stored: true, payload: response.payload };
}

/** The payload's bytes in a buffer of their own when the view shares a larger one. */
function compact(payload: Uint8Array): Uint8Array {
  if (payload.byteOffset === 0 && payload.buffer.byteLength === payload.byteLength) return payload;
  return payload.slice();
}
