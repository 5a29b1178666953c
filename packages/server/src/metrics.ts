import {
  addToSummary,
  emptySummary,
  loadGlobalMeter,
  type MeterOption,
  MetricInstruments,
  type MetricRecorder,
  type MetricSummary,
} from "@assured/core/protocol";
import type { ServerFailureKind } from "./failure-reports.js";

/** In a variable: bundlers leave the optional peer alone (a missing one must not fail a build). */
const OPENTELEMETRY_API = "@opentelemetry/api";

/** The OpenTelemetry instrumentation scope (meter name) of the server's metrics. */
export const SERVER_METER_NAME = "@assured/server";

/** How a `publish` ended: stored, already stored (`duplicate`), failed, refused (too many pending). */
export type PublishOutcome = "ok" | "duplicate" | "error" | "refused";

/**
 * What the dedup store decided for a client message: it ran (`claimed`), its stored answer was
 * sent (`duplicate`), its id came with other data (`conflict`), it was too old to run
 * (`expired`), its sender's quota was full (`quota`), or the claim failed (`failed`: store down,
 * lease lost, timeout).
 */
export type DedupOutcome = "claimed" | "duplicate" | "conflict" | "expired" | "quota" | "failed";

const DEDUP_OUTCOMES: readonly DedupOutcome[] = [
  "claimed",
  "duplicate",
  "conflict",
  "expired",
  "quota",
  "failed",
];
const FAILURE_KINDS: readonly ServerFailureKind[] = [
  "handler",
  "store",
  "frame",
  "hook",
  "internal",
];

/**
 * A snapshot of the server's figures (`assured.stats()`): counters since the server was created,
 * gauges as they are now, distributions as count, sum and maximum. The same figures as the
 * OpenTelemetry metrics (docs/operations.md), without OpenTelemetry.
 */
export interface ServerStats {
  /** `publish` calls by outcome (a refused one did not reach the store). */
  published: Record<PublishOutcome, number>;
  /** Time from `publish` to its answer, in ms. */
  publishLatencyMs: MetricSummary;
  /** Duration of `store.append` calls, in ms (failed ones included). */
  appendLatencyMs: MetricSummary;
  /** Events per `store.append` call (the group commit's batch size). */
  appendBatchSize: MetricSummary;
  /** Events sent in the first pages of subscribe replies (subscribers recovering or starting from the past). */
  replayedEvents: number;
  /** Bytes of those first pages. */
  replayedBytes: number;
  /** Events sent in answer to `assured:fetch` (the client pulling its catch-up, gap repair) and `assured:history` (`client.history`). */
  fetchedEvents: number;
  /** Payload bytes sent in answer to `assured:fetch` and `assured:history`. */
  fetchedBytes: number;
  /** Events emitted live after a commit outside `publish` (transactional publish; `watchCommits`). */
  committedEvents: number;
  /** Payload bytes of those events. */
  committedBytes: number;
  /** Client messages by dedup outcome. */
  dedup: Record<DedupOutcome, number>;
  /** Duration of message handler runs, in ms. */
  handlerDurationMs: MetricSummary;
  /** Handler runs that threw (or returned a result that does not encode). */
  handlerErrors: number;
  /** Failures by kind (those given to `onError`, and failed appends of `publish`). */
  failures: Record<ServerFailureKind, number>;
  /** Client messages waiting in the sockets' queues now. */
  queuedMessages: number;
  /** Sockets connected to the namespace now. */
  sockets: number;
  /** Stream subscriptions of those sockets now. */
  subscriptions: number;
}

/** What the server's gauges read. */
export interface ServerGauges {
  sockets(): number;
  subscriptions(): number;
}

const ms = "ms";

/**
 * The server's figures: kept for `stats()`, and recorded to OpenTelemetry through a meter named
 * `@assured/server` (the injected one, else the global one of `@opentelemetry/api` if it is
 * installed, else none).
 */
export class ServerMetrics {
  readonly #instruments: MetricInstruments;
  readonly #gauges: ServerGauges;
  readonly #stats: Omit<ServerStats, "sockets" | "subscriptions">;
  readonly #publish: MetricRecorder;
  readonly #append: MetricRecorder;
  readonly #appendBatch: MetricRecorder;
  readonly #replayEvents: MetricRecorder;
  readonly #replayBytes: MetricRecorder;
  readonly #fetchEvents: MetricRecorder;
  readonly #fetchBytes: MetricRecorder;
  readonly #committedEvents: MetricRecorder;
  readonly #committedBytes: MetricRecorder;
  readonly #dedup: MetricRecorder;
  readonly #handlerDuration: MetricRecorder;
  readonly #handlerErrors: MetricRecorder;
  readonly #failures: MetricRecorder;
  readonly #queued: MetricRecorder;

  constructor(meter: MeterOption, gauges: ServerGauges) {
    this.#gauges = gauges;
    this.#stats = {
      published: { ok: 0, duplicate: 0, error: 0, refused: 0 },
      publishLatencyMs: emptySummary(),
      appendLatencyMs: emptySummary(),
      appendBatchSize: emptySummary(),
      replayedEvents: 0,
      replayedBytes: 0,
      fetchedEvents: 0,
      fetchedBytes: 0,
      committedEvents: 0,
      committedBytes: 0,
      dedup: Object.fromEntries(DEDUP_OUTCOMES.map((o) => [o, 0])) as Record<DedupOutcome, number>,
      handlerDurationMs: emptySummary(),
      handlerErrors: 0,
      failures: Object.fromEntries(FAILURE_KINDS.map((k) => [k, 0])) as Record<
        ServerFailureKind,
        number
      >,
      queuedMessages: 0,
    };
    const m = new MetricInstruments(meter, () =>
      loadGlobalMeter(() => import(/* @vite-ignore */ OPENTELEMETRY_API), SERVER_METER_NAME),
    );
    this.#instruments = m;
    this.#publish = m.histogram("assured.publish.duration", {
      description: "Time from publish() to its answer (stored and emitted, or failed).",
      unit: ms,
    });
    this.#append = m.histogram("assured.store.append.duration", {
      description: "Duration of the event store's append calls.",
      unit: ms,
    });
    this.#appendBatch = m.histogram("assured.store.append.batch_size", {
      description: "Events per append call (group commit).",
      unit: "{event}",
    });
    this.#replayEvents = m.counter("assured.replay.events", {
      description: "Events sent in the first pages of subscribe replies.",
      unit: "{event}",
    });
    this.#replayBytes = m.counter("assured.replay.bytes", {
      description: "Bytes of the first pages of subscribe replies.",
      unit: "By",
    });
    this.#fetchEvents = m.counter("assured.fetch.events", {
      description: "Events sent in answer to fetches (catch-up and gap repair) and history reads.",
      unit: "{event}",
    });
    this.#fetchBytes = m.counter("assured.fetch.bytes", {
      description:
        "Payload bytes sent in answer to fetches (catch-up and gap repair) and history reads.",
      unit: "By",
    });
    this.#committedEvents = m.counter("assured.commits.events", {
      description: "Events emitted live after a commit outside publish (transactional publish).",
      unit: "{event}",
    });
    this.#committedBytes = m.counter("assured.commits.bytes", {
      description: "Payload bytes of the events emitted after a commit outside publish.",
      unit: "By",
    });
    this.#dedup = m.counter("assured.dedup.claims", {
      description: "Client messages looked up in the dedup store, by outcome.",
      unit: "{message}",
    });
    this.#handlerDuration = m.histogram("assured.handler.duration", {
      description: "Duration of message handler runs.",
      unit: ms,
    });
    this.#handlerErrors = m.counter("assured.handler.errors", {
      description: "Message handler runs that threw.",
      unit: "{error}",
    });
    this.#failures = m.counter("assured.failures", {
      description: "Failures the server met, by kind and operation.",
      unit: "{failure}",
    });
    this.#queued = m.upDownCounter("assured.messages.queued", {
      description: "Client messages waiting in the sockets' queues.",
      unit: "{message}",
    });
    m.gauge(
      "assured.sockets",
      { description: "Sockets connected to the namespace.", unit: "{socket}" },
      (result) => result.observe(gauges.sockets()),
    );
    m.gauge(
      "assured.subscriptions",
      { description: "Stream subscriptions of the connected sockets.", unit: "{subscription}" },
      (result) => result.observe(gauges.subscriptions()),
    );
  }

  /** Resolves once the meter is known (the global one loads asynchronously). */
  get ready(): Promise<void> {
    return this.#instruments.ready;
  }

  /** A `publish` ended after `durationMs`. */
  published(durationMs: number, outcome: PublishOutcome): void {
    this.#stats.published[outcome]++;
    addToSummary(this.#stats.publishLatencyMs, durationMs);
    this.#publish(durationMs, { outcome });
  }

  /** A `store.append` of `size` events ended after `durationMs`. */
  appended(durationMs: number, size: number, ok: boolean): void {
    addToSummary(this.#stats.appendLatencyMs, durationMs);
    addToSummary(this.#stats.appendBatchSize, size);
    this.#append(durationMs, { outcome: ok ? "ok" : "error" });
    this.#appendBatch(size);
    if (!ok) this.failed("store", "append");
  }

  /** The first page of a subscribe reply, of `events` events and `bytes` bytes, was sent. */
  replayed(events: number, bytes: number): void {
    this.#stats.replayedEvents += events;
    this.#stats.replayedBytes += bytes;
    this.#replayEvents(events);
    this.#replayBytes(bytes);
  }

  /** A fetch reply of `events` events and `bytes` payload bytes was sent. */
  fetched(events: number, bytes: number): void {
    this.#stats.fetchedEvents += events;
    this.#stats.fetchedBytes += bytes;
    this.#fetchEvents(events);
    this.#fetchBytes(bytes);
  }

  /** `events` events of `bytes` payload bytes committed outside `publish` were emitted. */
  committed(events: number, bytes: number): void {
    this.#stats.committedEvents += events;
    this.#stats.committedBytes += bytes;
    this.#committedEvents(events);
    this.#committedBytes(bytes);
  }

  /** The dedup outcome of one client message. */
  dedupOutcome(outcome: DedupOutcome): void {
    this.#stats.dedup[outcome]++;
    this.#dedup(1, { outcome });
  }

  /** A handler of message `name` ran for `durationMs`. */
  handled(name: string, durationMs: number, ok: boolean): void {
    addToSummary(this.#stats.handlerDurationMs, durationMs);
    this.#handlerDuration(durationMs, { name, outcome: ok ? "ok" : "error" });
  }

  /** A handler of message `name` threw. */
  handlerError(name: string): void {
    this.#stats.handlerErrors++;
    this.#handlerErrors(1, { name });
  }

  /** A failure of `kind` during `operation`. */
  failed(kind: ServerFailureKind, operation: string): void {
    this.#stats.failures[kind]++;
    this.#failures(1, { kind, operation });
  }

  /** Messages were queued (positive) or left the queues (negative). */
  queued(delta: number): void {
    if (delta === 0) return;
    this.#stats.queuedMessages += delta;
    this.#queued(delta);
  }

  /** A snapshot of every figure (copies: later changes do not show in it). */
  snapshot(): ServerStats {
    return structuredClone({
      ...this.#stats,
      sockets: this.#gauges.sockets(),
      subscriptions: this.#gauges.subscriptions(),
    });
  }

  /** Stops recording to OpenTelemetry (the gauges are unregistered); `snapshot` still works. */
  close(): void {
    this.#instruments.close();
  }
}
