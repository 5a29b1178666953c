import type { AssuredErrorCode, StreamName } from "@assured/core";
import { backoffDelay, type RandomSource, type RetryPolicy } from "@assured/core/protocol";
import { streamLog } from "./debug-log.js";

/** `assured:sub-error` codes worth subscribing again for; every other code is final. */
const RETRYABLE_SUBSCRIBE_CODES: ReadonlySet<AssuredErrorCode> = new Set([
  "STORE_UNAVAILABLE",
  "RATE_LIMITED",
  "TIMEOUT",
]);

/**
 * Subscribes a stream again after a retryable refusal (`STORE_UNAVAILABLE`, `RATE_LIMITED`,
 * `TIMEOUT`) while connected, with exponential backoff and full jitter, until the server
 * answers `assured:subscribed` or a final error. At most one timer per subscribed stream
 * (bounded by `maxStreams`); every timer stops on disconnect (the next handshake carries the
 * subscription) and on close.
 */
export class SubscribeRetry {
  readonly #retry: RetryPolicy;
  readonly #random: RandomSource;
  readonly #resend: (stream: StreamName) => void;
  readonly #attempts = new Map<
    StreamName,
    { count: number; timer?: ReturnType<typeof setTimeout> }
  >();

  constructor(retry: RetryPolicy, random: RandomSource, resend: (stream: StreamName) => void) {
    this.#retry = retry;
    this.#random = random;
    this.#resend = resend;
  }

  /** True when a refusal with this code is retried. */
  static retryable(code: AssuredErrorCode): boolean {
    return RETRYABLE_SUBSCRIBE_CODES.has(code);
  }

  /** Schedules the next attempt for a refused stream (replacing a scheduled one). */
  refused(stream: StreamName): void {
    const attempt = this.#attempts.get(stream) ?? { count: 0 };
    if (attempt.timer !== undefined) clearTimeout(attempt.timer);
    attempt.count++;
    const delay = backoffDelay(attempt.count, this.#retry, this.#random);
    streamLog("subscribe %s refused, again in %d ms (retry %d)", stream, delay, attempt.count);
    attempt.timer = setTimeout(() => {
      attempt.timer = undefined;
      streamLog("subscribe %s again", stream);
      this.#resend(stream);
    }, delay);
    (attempt.timer as { unref?: () => void }).unref?.();
    this.#attempts.set(stream, attempt);
  }

  /** The stream was subscribed (or unsubscribed): forget its attempts. */
  settled(stream: StreamName): void {
    const attempt = this.#attempts.get(stream);
    if (attempt === undefined) return;
    if (attempt.timer !== undefined) clearTimeout(attempt.timer);
    this.#attempts.delete(stream);
  }

  /** Cancels every scheduled attempt (disconnect, close). */
  clear(): void {
    for (const attempt of this.#attempts.values()) {
      if (attempt.timer !== undefined) clearTimeout(attempt.timer);
    }
    this.#attempts.clear();
  }
}
