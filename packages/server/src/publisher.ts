import { AssuredError, type Epoch, type EventRecord } from "@assured/core";
import { FRAMES, GroupCommit, packRecords } from "@assured/core/protocol";
import { type AppendEntry, type EventStore, toStoreError } from "@assured/core/store";
import createDebug from "debug";
import type { Namespace } from "socket.io";
import { chunkByBytes } from "./batch-chunks.js";
import type { ServerMetrics } from "./metrics.js";
import { roomOf } from "./wire.js";

const log = createDebug("assured:server:publish");

/** The result of publishing one event. */
export interface PublishResult {
  /** The event's offset (the original one for a duplicate). */
  offset: number;
  /** The epoch of the log the offset belongs to. */
  epoch: Epoch;
  /** The event id (the generated one if none was given). */
  id: string;
  /** True when the stream already held this id: nothing was appended or emitted. */
  duplicate: boolean;
}

interface PendingPublish {
  entry: AppendEntry;
  time: number;
  /** When `publish` was called (monotonic, for its latency). */
  startedAt: number;
  resolve(result: PublishResult): void;
  reject(error: unknown): void;
}

/**
 * Most turns of the event loop a published event waits for its group while publishes to its
 * stream keep coming every turn (a stream that pauses for one turn is flushed at once). 32:
 * measured against 16 and 64 with one publish per turn, larger groups pay (fewer appends and
 * frames; SQLite 1.1× plain Socket.IO with 32, 0.4–1.0× with 16) for a bounded wait under steady
 * load (32 turns, about 1 ms on an idle loop).
 */
export const PUBLISH_MAX_TURNS = 32;

/**
 * Group commit for the live path (G4), adaptive (core `GroupCommit`): a stream's pending events
 * are appended with one `store.append` call when a turn passes without a new publish to it (or
 * after `PUBLISH_MAX_TURNS` busy turns, or at `maxBatch` events or `maxBatchBytes`); the next
 * group of a stream waits for the previous append, so each node appends and emits a stream's
 * events in offset order. After an append resolves, the new events are emitted to the stream's
 * room as one `assured:batch` per consecutive run (split at `maxBatchBytes`) — never before they
 * are stored, and never for a duplicate.
 */
export class Publisher {
  readonly #store: EventStore;
  readonly #nsp: Namespace;
  readonly #maxPending: number;
  readonly #maxBatch: number;
  readonly #maxBatchBytes: number;
  readonly #metrics: ServerMetrics;
  readonly #groups: GroupCommit<string, PendingPublish>;
  #pending = 0;
  #idle: (() => void)[] = [];

  constructor(
    store: EventStore,
    nsp: Namespace,
    limits: { maxPending: number; maxBatch: number; maxBatchBytes: number; metrics: ServerMetrics },
  ) {
    this.#store = store;
    this.#nsp = nsp;
    this.#maxPending = limits.maxPending;
    this.#maxBatch = limits.maxBatch;
    this.#maxBatchBytes = limits.maxBatchBytes;
    this.#metrics = limits.metrics;
    this.#groups = new GroupCommit<string, PendingPublish>({
      flush: (stream, group) => this.#flush(stream, group),
      maxItems: limits.maxBatch,
      maxBytes: limits.maxBatchBytes,
      sizeOf: (p) => p.entry.payload.byteLength,
      maxTurns: PUBLISH_MAX_TURNS,
    });
  }

  /** Queues one validated, encoded entry and resolves once it is stored and emitted. */
  publish(stream: string, entry: AppendEntry): Promise<PublishResult> {
    if (this.#pending >= this.#maxPending) {
      this.#metrics.published(0, "refused");
      return Promise.reject(
        new AssuredError(
          "LIMIT_EXCEEDED",
          `${this.#pending} published events are waiting for the store (maxPendingPublishes); slow down or raise the limit.`,
        ),
      );
    }
    return new Promise<PublishResult>((resolve, reject) => {
      this.#groups.add(stream, {
        entry,
        time: Date.now(),
        startedAt: performance.now(),
        resolve,
        reject,
      });
      this.#pending++;
    });
  }

  /** Resolves once every queued event has been appended (or has failed). */
  drained(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Appends one group, emits what was new, settles every publish of it (never throws). */
  async #flush(stream: string, group: PendingPublish[]): Promise<void> {
    try {
      const results = await this.#append(stream, group);
      try {
        this.#emit(stream, group, results);
      } catch (error) {
        // Stored but not emitted: subscribers repair the gap by fetching (G7).
        log("emit to %o failed: %o", stream, error);
      }
      const now = performance.now();
      group.forEach((p, i) => {
        const r = results[i]!;
        this.#metrics.published(now - p.startedAt, r.duplicate ? "duplicate" : "ok");
        p.resolve({ offset: r.offset, epoch: r.epoch, id: r.id, duplicate: r.duplicate });
      });
    } catch (error) {
      const failure = toStoreError(error, "append");
      log("append of %d events to %o failed: %s", group.length, stream, failure.message);
      const now = performance.now();
      for (const p of group) {
        this.#metrics.published(now - p.startedAt, "error");
        p.reject(failure);
      }
    }
    this.#pending -= group.length;
    if (this.#pending === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** One `store.append` of a group, timed. */
  async #append(stream: string, group: PendingPublish[]): ReturnType<EventStore["append"]> {
    const start = performance.now();
    let ok = false;
    try {
      const results = await this.#store.append(
        stream,
        group.map((p) => p.entry),
      );
      ok = true;
      return results;
    } finally {
      this.#metrics.appended(performance.now() - start, group.length, ok);
    }
  }

  #emit(
    stream: string,
    group: PendingPublish[],
    results: { offset: number; id: string; duplicate: boolean; epoch: Epoch }[],
  ): void {
    let run: Omit<EventRecord, "stream">[] = [];
    let epoch = "";
    const send = () => {
      for (const chunk of chunkByBytes(run, this.#maxBatchBytes)) {
        this.#nsp
          .to(roomOf(stream))
          .emit(FRAMES.batch, { stream, epoch, records: packRecords(chunk) });
        log("emitted %d events of %o", chunk.length, stream);
      }
      run = [];
    };
    group.forEach((p, i) => {
      const r = results[i]!;
      if (r.duplicate) return;
      // One batch per consecutive run of one epoch.
      if (r.epoch !== epoch || run[run.length - 1]?.offset !== r.offset - 1) send();
      epoch = r.epoch;
      run.push({
        offset: r.offset,
        id: r.id,
        name: p.entry.name,
        payload: p.entry.payload,
        time: p.time,
      });
    });
    send();
  }
}
