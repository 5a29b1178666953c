import {
  addToSummary,
  emptySummary,
  loadGlobalMeter,
  type MeterOption,
  MetricInstruments,
  type MetricRecorder,
  type MetricSummary,
} from "@assured/core/protocol";

/**
 * In a variable: bundlers leave the optional peer alone (a missing one must not fail a build;
 * in a browser bundle pass `meter` explicitly).
 */
const OPENTELEMETRY_API = "@opentelemetry/api";

/** The OpenTelemetry instrumentation scope (meter name) of the client's metrics. */
export const CLIENT_METER_NAME = "@assured/client";

/**
 * A snapshot of the client's figures (`client.stats()`): counters since the client was created,
 * gauges as they are now, distributions as count, sum and maximum. The same figures as the
 * OpenTelemetry metrics (docs/operations.md), without OpenTelemetry.
 */
export interface ClientStats {
  /** Messages in the outbox waiting for their answer now. */
  outboxDepth: number;
  /** Messages sent for the first time by this client. */
  messagesSent: number;
  /** Messages sent again (no answer in time, a retryable refusal, a reconnect). */
  messagesRetried: number;
  /** Messages answered for good: a result (`ok`) or a final error (`error`). */
  messagesAnswered: { ok: number; error: number };
  /** Events whose handlers resolved. */
  eventsDelivered: number;
  /** Delivery lag of those events, in ms: when the handlers resolved minus the event's time. */
  deliveryLagMs: MetricSummary;
}

/**
 * The client's figures: kept for `stats()`, and recorded to OpenTelemetry through a meter named
 * `@assured/client` (the injected one, else the global one of `@opentelemetry/api` if it can be
 * imported, else none).
 */
export class ClientMetrics {
  readonly #instruments: MetricInstruments;
  readonly #outboxDepth: () => number;
  readonly #stats: Omit<ClientStats, "outboxDepth">;
  readonly #sent: MetricRecorder;
  readonly #retried: MetricRecorder;
  readonly #answered: MetricRecorder;
  readonly #lag: MetricRecorder;

  constructor(meter: MeterOption, outboxDepth: () => number) {
    this.#outboxDepth = outboxDepth;
    this.#stats = {
      messagesSent: 0,
      messagesRetried: 0,
      messagesAnswered: { ok: 0, error: 0 },
      eventsDelivered: 0,
      deliveryLagMs: emptySummary(),
    };
    const m = new MetricInstruments(meter, () =>
      loadGlobalMeter(() => import(/* @vite-ignore */ OPENTELEMETRY_API), CLIENT_METER_NAME),
    );
    this.#instruments = m;
    this.#sent = m.counter("assured.client.messages.sent", {
      description: "Messages sent for the first time.",
      unit: "{message}",
    });
    this.#retried = m.counter("assured.client.messages.retried", {
      description: "Messages sent again.",
      unit: "{message}",
    });
    this.#answered = m.counter("assured.client.messages.answered", {
      description: "Messages answered for good, by outcome.",
      unit: "{message}",
    });
    this.#lag = m.histogram("assured.client.delivery.lag", {
      description: "Time from an event's append to its handlers resolving.",
      unit: "ms",
    });
    m.gauge(
      "assured.client.outbox.depth",
      { description: "Messages in the outbox waiting for their answer.", unit: "{message}" },
      (result) => result.observe(outboxDepth()),
    );
  }

  /** Resolves once the meter is known (the global one loads asynchronously). */
  get ready(): Promise<void> {
    return this.#instruments.ready;
  }

  /** A message was sent (`retry`: not for the first time). */
  sent(retry: boolean): void {
    if (retry) {
      this.#stats.messagesRetried++;
      this.#retried(1);
    } else {
      this.#stats.messagesSent++;
      this.#sent(1);
    }
  }

  /** A message was answered for good. */
  answered(ok: boolean): void {
    const outcome = ok ? "ok" : "error";
    this.#stats.messagesAnswered[outcome]++;
    this.#answered(1, { outcome });
  }

  /** An event appended at `time` (ms since the epoch) was handled now. */
  delivered(time: number): void {
    const lag = Math.max(0, Date.now() - time);
    this.#stats.eventsDelivered++;
    addToSummary(this.#stats.deliveryLagMs, lag);
    this.#lag(lag);
  }

  /** A snapshot of every figure (copies: later changes do not show in it). */
  snapshot(): ClientStats {
    return {
      outboxDepth: this.#outboxDepth(),
      messagesSent: this.#stats.messagesSent,
      messagesRetried: this.#stats.messagesRetried,
      messagesAnswered: { ...this.#stats.messagesAnswered },
      eventsDelivered: this.#stats.eventsDelivered,
      deliveryLagMs: { ...this.#stats.deliveryLagMs },
    };
  }

  /** Stops recording to OpenTelemetry (the gauge is unregistered); `snapshot` still works. */
  close(): void {
    this.#instruments.close();
  }
}
