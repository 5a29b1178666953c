import { AssuredError, type StreamName } from "@assured/core";
import {
  type FetchRequest,
  FRAMES,
  type HeadsRequest,
  parseFetchReply,
  parseHeadsReply,
  RETRYABLE_CODES,
  type Sequencer,
  type SequencerStep,
} from "@assured/core/protocol";
import type { Socket } from "socket.io-client";
import { streamLog } from "./debug-log.js";
import type { ErrorReporter } from "./error-reporter.js";

/** Streams per `assured:heads` request (the server's default `maxHeadsStreams`). */
const HEADS_CHUNK = 256;

/**
 * Binds the sequencer's repair loop (protocol v2, DESIGN §8) to the socket: sends its fetches
 * (`assured:fetch`) and hands the replies back; runs one timer at the sequencer's
 * `nextWakeAt` (fetch deadlines and backoffs are the sequencer's, on its injected clock); and
 * runs the periodic position check (`assured:heads`, one interval timer while connected), which
 * only tells the sequencer the heads it did not hear of (a trailing gap on a quiet stream).
 */
export class GapRepair {
  readonly #socket: Socket;
  readonly #sequencer: Sequencer;
  readonly #errors: ErrorReporter;
  readonly #timeoutMs: number;
  readonly #intervalMs: number;
  readonly #apply: (stream: StreamName, step: SequencerStep) => void;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #wake: ReturnType<typeof setTimeout> | undefined;
  #wakeAt: number | undefined;

  constructor(
    socket: Socket,
    sequencer: Sequencer,
    errors: ErrorReporter,
    options: { timeoutMs: number; intervalMs: number; now: () => number },
    apply: (stream: StreamName, step: SequencerStep) => void,
  ) {
    this.#socket = socket;
    this.#sequencer = sequencer;
    this.#errors = errors;
    this.#timeoutMs = options.timeoutMs;
    this.#intervalMs = options.intervalMs;
    this.#now = options.now;
    this.#apply = apply;
  }

  /** Starts the position check timer (on connect). */
  start(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = setInterval(() => this.check(), this.#intervalMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Stops the timers (on disconnect and close): the sequencer forgot its fetches anyway. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#clearWake();
  }

  /** Sends a fetch of the sequencer; its reply (or failure) goes back to it. */
  fetch(request: FetchRequest): void {
    if (!this.#socket.connected || !this.#sequencer.awaitsFetch(request)) {
      this.#sequencer.fetchFailed(request);
      this.schedule();
      return;
    }
    streamLog(
      "fetch %s epoch %s after %d limit %d",
      request.stream,
      request.epoch,
      request.after,
      request.limit,
    );
    // No socket-level timeout: the sequencer gives the fetch up at its deadline (and ignores a
    // late reply), then asks again after a backoff.
    this.#socket.emit(FRAMES.fetch, request, (raw: unknown) => {
      this.#errors.guard(() => {
        try {
          let reply: ReturnType<typeof parseFetchReply>;
          try {
            reply = parseFetchReply(request.stream, raw);
          } catch (error) {
            this.#sequencer.fetchFailed(request);
            throw error;
          }
          if (!reply.ok && this.#sequencer.awaitsFetch(request)) {
            const final = !RETRYABLE_CODES.includes(reply.error.code);
            streamLog(
              "fetch %s refused: %s (%s)",
              request.stream,
              reply.error.code,
              final ? "reported, retried" : "retried",
            );
            if (final) {
              const e = AssuredError.fromJSON(reply.error);
              const details = { ...e.details, stream: request.stream };
              this.#errors.report(new AssuredError(e.code, e.message, { details }));
            }
          }
          this.#apply(request.stream, this.#sequencer.fetched(request, reply));
        } finally {
          this.schedule();
        }
      });
    });
    this.schedule();
  }

  /** Sets the one timer to the sequencer's next deadline (fetch timeout or end of a backoff). */
  schedule(): void {
    const at = this.#sequencer.nextWakeAt();
    if (at === undefined || !this.#socket.connected) {
      this.#clearWake();
      return;
    }
    // A timer that fires at or before `at` is kept (it reschedules when it fires).
    if (this.#wake !== undefined && this.#wakeAt !== undefined && this.#wakeAt <= at) return;
    this.#clearWake();
    this.#wakeAt = at;
    this.#wake = setTimeout(
      () => {
        this.#wake = undefined;
        this.#wakeAt = undefined;
        this.#errors.guard(() => {
          for (const step of this.#sequencer.tick()) {
            if (step.fetch) this.#apply(step.fetch.stream, step);
          }
        });
        this.schedule();
      },
      Math.max(0, at - this.#now()),
    );
    (this.#wake as { unref?: () => void }).unref?.();
  }

  #clearWake(): void {
    if (this.#wake !== undefined) clearTimeout(this.#wake);
    this.#wake = undefined;
    this.#wakeAt = undefined;
  }

  /** One position check: the heads of every active stream, in chunks. */
  check(): void {
    const request = this.#sequencer.checkRequest();
    if (!request || !this.#socket.connected) return;
    for (let i = 0; i < request.streams.length; i += HEADS_CHUNK) {
      this.#requestHeads({ streams: request.streams.slice(i, i + HEADS_CHUNK) });
    }
  }

  #requestHeads(request: HeadsRequest): void {
    // What the streams had received when asked: a head below it is a diverged log (DESIGN §8).
    const marks = this.#sequencer.checkMarks(request.streams);
    this.#socket
      .timeout(this.#timeoutMs)
      .emit(FRAMES.heads, request, (err: unknown, raw: unknown) => {
        if (err) {
          streamLog(
            "position check of %d streams: no reply in %d ms",
            request.streams.length,
            this.#timeoutMs,
          );
          return;
        }
        this.#errors.guard(() => {
          const reply = parseHeadsReply(raw);
          if (!reply.ok) {
            streamLog("position check refused: %s", reply.error.code);
            this.#errors.report(AssuredError.fromJSON(reply.error));
            return;
          }
          for (const step of this.#sequencer.heads(reply.heads, marks)) {
            const stream = step.outcome?.stream ?? step.fetch?.stream ?? step.resubscribe?.stream;
            if (stream !== undefined) this.#apply(stream, step);
          }
        });
      });
  }
}
