import type { AssuredError } from "@assured/core";
import {
  batchMessages,
  FRAMES,
  type MessageResult,
  type Outbox,
  unpackReplyBatch,
} from "@assured/core/protocol";
import type { Socket } from "socket.io-client";
import type { ClientMetrics } from "./client-metrics.js";
import { outboxLog } from "./debug-log.js";
import type { ErrorReporter } from "./error-reporter.js";
import { type SettledResult, toSettled } from "./settled-result.js";

type Waiter = {
  promise: Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
};

/**
 * Sends the outbox over the socket: the messages due go together in `assured:msgs` packets
 * (answered in `assured:replies` packets), a window of messages in flight, one timer for ack
 * timeouts and retries (`nextWakeAt`), and the promises of `emit`.
 */
export class OutboxSender {
  readonly #socket: Socket;
  readonly #outbox: Outbox;
  readonly #errors: ErrorReporter;
  /** One waiter per unanswered message id (so at most `maxPending`). */
  readonly #waiters = new Map<string, Waiter>();
  readonly #onResult: (id: string, result: SettledResult) => void;
  readonly #metrics: ClientMetrics | undefined;
  /** Ids this sender sent and that are not answered yet: sending one again is a retry. */
  readonly #sentIds = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The deadline `#timer` fires for. */
  #armedAt: number | null = null;
  #stopped = false;
  /** A `pump` is queued for the end of the current microtasks (`pumpSoon`). */
  #pumpQueued = false;

  constructor(
    socket: Socket,
    outbox: Outbox,
    errors: ErrorReporter,
    onResult: (id: string, result: SettledResult) => void,
    metrics?: ClientMetrics,
  ) {
    this.#metrics = metrics;
    this.#socket = socket;
    this.#outbox = outbox;
    this.#errors = errors;
    this.#onResult = onResult;
  }

  /** A promise for the answer to message `id` (callers waiting for one id share it). */
  wait<R>(id: string): Promise<R> {
    let waiter = this.#waiters.get(id);
    if (waiter === undefined) {
      let resolve!: (value: unknown) => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<unknown>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      waiter = { promise, resolve, reject };
      this.#waiters.set(id, waiter);
    }
    return waiter.promise as Promise<R>;
  }

  /**
   * `pump` once the microtasks queued now have run: the emits whose messages one storage write
   * stored continue one after another, and all of them then leave in one pump (one packet)
   * instead of each emit walking the window again.
   */
  pumpSoon(): void {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    queueMicrotask(() => {
      this.#pumpQueued = false;
      // Off the caller's stack: what it throws is reported, not an uncaught exception.
      this.#errors.guard(() => this.pump());
    });
  }

  /** Sends what is due and re-arms the one timer. Call after any change. */
  pump(): void {
    if (this.#stopped || !this.#socket.connected) return;
    const due = this.#outbox.due(Date.now());
    // The debug logger is asked once per pump, not per message (its check is not free).
    const logging = outboxLog.enabled;
    for (const frame of due) {
      if (logging) {
        outboxLog(
          "send %s seq %d (%s, %d bytes)",
          frame.id,
          frame.seq,
          frame.name,
          frame.payload.byteLength,
        );
      }
      this.#metrics?.sent(this.#sentIds.has(frame.id));
      this.#sentIds.add(frame.id);
    }
    // In seq order, several per packet: send order is wire order (G10).
    if (due.length > 0) {
      for (const batch of batchMessages(due)) this.#socket.emit(FRAMES.messages, batch);
    }
    this.#arm();
  }

  /** An `assured:replies` frame: each reply applied as the answer of its message. */
  replies(raw: unknown): void {
    const replies = unpackReplyBatch(raw);
    for (const reply of replies) this.#apply(reply);
    this.pump();
  }

  /** The connection is up: resend everything unanswered, in seq order. */
  connected(): void {
    this.#outbox.connected();
    this.pump();
  }

  /** The connection dropped: nothing is in flight any more. */
  disconnected(): void {
    this.#outbox.disconnected();
    this.#disarm();
    // Forget ids answered elsewhere (another tab, adoption): keep the set to what still waits.
    const waiting = new Set(this.#outbox.pending().map((m) => m.id));
    for (const id of this.#sentIds) if (!waiting.has(id)) this.#sentIds.delete(id);
  }

  /** Stops sending and rejects every waiting `emit` with `CLOSED` (messages stay stored). */
  stop(error: AssuredError): void {
    this.#stopped = true;
    this.#disarm();
    if (this.#waiters.size > 0) outboxLog("stopped: %d waiting emits rejected", this.#waiters.size);
    for (const w of this.#waiters.values()) w.reject(error);
    this.#waiters.clear();
  }

  #arm(): void {
    const at = this.#outbox.nextWakeAt();
    // A timer due no later than the next deadline is kept: firing early only pumps and
    // re-arms (most pumps move the deadline later, and re-arming each time is costly).
    if (this.#timer !== undefined && at !== null && this.#armedAt !== null && this.#armedAt <= at) {
      return;
    }
    this.#disarm();
    if (at === null) return;
    this.#armedAt = at;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.pump();
      },
      Math.max(0, at - Date.now()),
    );
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = null;
  }

  #apply(reply: unknown): void {
    const outcome = this.#outbox.acked(reply, Date.now());
    if (outcome.kind === "settled") this.#settle(outcome.result);
    else if (outcome.kind === "retry") {
      outboxLog(
        "reply to %s: %s, retried (%s)",
        outcome.id,
        outcome.error.code,
        outcome.error.message,
      );
    }
  }

  #settle(result: MessageResult): void {
    const settled = toSettled(result);
    this.#sentIds.delete(result.id);
    this.#metrics?.answered(settled.ok);
    if (!outboxLog.enabled) {
      // Nothing to log.
    } else if (settled.ok) outboxLog("reply to %s seq %d: ok", result.id, result.seq);
    else outboxLog("reply to %s seq %d: %s (final)", result.id, result.seq, settled.error.code);
    this.#errors.guard(() => this.#onResult(result.id, settled));
    const waiter = this.#waiters.get(result.id);
    if (!waiter) return;
    this.#waiters.delete(result.id);
    if (settled.ok) waiter.resolve(settled.value);
    else waiter.reject(settled.error);
  }
}
