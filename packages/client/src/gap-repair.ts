import {
  AssuredError,
  backoffDelay,
  type FetchRequest,
  FRAMES,
  type HeadsRequest,
  parseFetchReply,
  parseHeadsReply,
  type RandomSource,
  RETRYABLE_CODES,
  type RetryPolicy,
  type Sequencer,
  type SequencerStep,
  type StreamName,
} from "@assured/core";
import type { Socket } from "socket.io-client";
import { streamLog } from "./debug-log.js";
import type { ErrorReporter } from "./error-reporter.js";

/** Streams per `assured:heads` request (the server's default `maxHeadsStreams`). */
const HEADS_CHUNK = 256;

/**
 * Sends the sequencer's gap fetches (`assured:fetch`) and runs the periodic position check
 * (`assured:heads`, one interval timer while connected) that finds trailing gaps (G7). A fetch
 * that times out or is refused with a retryable code (the server's rate limit or byte budget,
 * a store outage) is sent again after a backoff, for as long as the sequencer still waits for
 * it and the socket is connected: a hole inside a stream is never left to chance (the position
 * check only finds trailing gaps). At most one fetch per stream, so at most one timer per stream.
 */
export class GapRepair {
  readonly #socket: Socket;
  readonly #sequencer: Sequencer;
  readonly #errors: ErrorReporter;
  readonly #timeoutMs: number;
  readonly #intervalMs: number;
  readonly #apply: (stream: StreamName, step: SequencerStep) => void;
  readonly #retry: RetryPolicy;
  readonly #random: RandomSource;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Fetches waiting for their next attempt. */
  readonly #retries = new Map<ReturnType<typeof setTimeout>, FetchRequest>();

  constructor(
    socket: Socket,
    sequencer: Sequencer,
    errors: ErrorReporter,
    options: { timeoutMs: number; intervalMs: number; retry: RetryPolicy; random: RandomSource },
    apply: (stream: StreamName, step: SequencerStep) => void,
  ) {
    this.#socket = socket;
    this.#sequencer = sequencer;
    this.#errors = errors;
    this.#timeoutMs = options.timeoutMs;
    this.#intervalMs = options.intervalMs;
    this.#retry = options.retry;
    this.#random = options.random;
    this.#apply = apply;
  }

  /** Starts the position check timer (on connect). */
  start(): void {
    this.stop();
    this.#timer = setInterval(() => this.check(), this.#intervalMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Stops the timers (on disconnect and close); fetches waiting for a retry are given up. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const [timer, request] of this.#retries) {
      clearTimeout(timer);
      this.#sequencer.fetchFailed(request);
    }
    this.#retries.clear();
  }

  /** Sends a gap fetch; its reply goes back to the sequencer. */
  fetch(request: FetchRequest, attempt = 0): void {
    if (!this.#socket.connected || !this.#sequencer.awaitsFetch(request)) {
      this.#sequencer.fetchFailed(request);
      return;
    }
    streamLog(
      "fetch %s epoch %s after %d limit %d (attempt %d)",
      request.stream,
      request.epoch,
      request.after,
      request.limit,
      attempt,
    );
    this.#socket
      .timeout(this.#timeoutMs)
      .emit(FRAMES.fetch, request, (err: unknown, raw: unknown) => {
        if (err) {
          streamLog(
            "fetch %s after %d: no reply in %d ms",
            request.stream,
            request.after,
            this.#timeoutMs,
          );
          this.#retryLater(request, attempt + 1);
          return;
        }
        this.#errors.guard(() => {
          let reply: ReturnType<typeof parseFetchReply>;
          try {
            reply = parseFetchReply(request.stream, raw);
          } catch (error) {
            this.#sequencer.fetchFailed(request);
            throw error;
          }
          if (!reply.ok && RETRYABLE_CODES.includes(reply.error.code)) {
            streamLog("fetch %s refused: %s, retried", request.stream, reply.error.code);
            this.#retryLater(request, attempt + 1);
            return;
          }
          if (!reply.ok) {
            streamLog("fetch %s refused: %s (final)", request.stream, reply.error.code);
            const e = AssuredError.fromJSON(reply.error);
            const details = { ...e.details, stream: request.stream };
            this.#errors.report(new AssuredError(e.code, e.message, { details }));
          }
          this.#apply(request.stream, this.#sequencer.fetched(request, reply));
        });
      });
  }

  /** Sends `request` again after the backoff of retry number `attempt`. */
  #retryLater(request: FetchRequest, attempt: number): void {
    if (!this.#socket.connected) {
      this.#sequencer.fetchFailed(request);
      return;
    }
    const delay = backoffDelay(attempt, this.#retry, this.#random);
    streamLog("fetch %s again in %d ms (retry %d)", request.stream, delay, attempt);
    const timer = setTimeout(() => {
      this.#retries.delete(timer);
      this.fetch(request, attempt);
    }, delay);
    (timer as { unref?: () => void }).unref?.();
    this.#retries.set(timer, request);
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
