import { AssuredError, type EventRecord } from "@assured/core";
import { FRAMES, packRecords } from "@assured/core/protocol";
import { type CommittedRange, describe, toStoreError } from "@assured/core/store";
import createDebug from "debug";
import { chunkByBytes } from "./batch-chunks.js";
import type { ServerContext } from "./context.js";
import { roomOf } from "./wire.js";

const log = createDebug("assured:server:commits");

/** Idle stream entries kept (to skip repeated ranges) before those without subscribers go. */
const MAX_IDLE_STREAMS = 1_024;

/** What the feed needs from the server: the store's reads, where to emit, and the limits. */
export interface CommitFeedTarget {
  read: ServerContext["store"]["read"];
  /** True when sockets of this node are in the room. */
  hasLocalSubscribers(room: string): boolean;
  /** Emits a batch frame to this node's sockets in the room only. */
  emitLocal(room: string, frame: unknown): void;
  fetchLimit: number;
  maxBatchBytes: number;
  /** A store read failed; the range's events are left to the clients' gap repair. */
  failed(error: unknown, stream: string): void;
  /** `events` events of `bytes` payload bytes were emitted. */
  emitted(events: number, bytes: number): void;
}

interface StreamFeed {
  /** Ranges waiting, in the order reported; overlapping or adjacent ones are merged. */
  queue: CommittedRange[];
  running: boolean;
  /** The epoch and highest offset this node emitted from the feed. */
  epoch: string;
  sent: number;
}

/**
 * Transactional publish, server side: the store reports ranges committed outside `publish`
 * (`watchCommits`), and each node reads them from the store and emits them as
 * `assured:batch` frames to its own sockets in the stream's room — locally, since every node
 * gets its own report (an adapter broadcast would send each event once per node). Per stream
 * the ranges are handled one after another in the order reported, in pages of `fetchLimit`
 * events and `maxBatchBytes`; ranges overlapping what is queued are merged, and an offset this
 * node already emitted from the feed (same epoch) is not emitted again, so per stream and
 * epoch the feed emits increasing offsets, each at most once. A range whose stream has no
 * subscriber here is skipped (subscribers replay from the store); a range the log no longer
 * holds (reset, trimmed) is skipped; a failed read is reported and left to gap repair
 * (clients fetch when they see a later offset or check positions).
 */
export class CommitFeed {
  readonly #target: CommitFeedTarget;
  readonly #streams = new Map<string, StreamFeed>();
  /**
   * The map's size at which idle entries are dropped next: at least `MAX_IDLE_STREAMS`, and
   * twice what a sweep kept, so sweeps cost O(1) per new stream however many are subscribed.
   */
  #sweepAt = MAX_IDLE_STREAMS;
  #idle: (() => void)[] = [];
  #stopped = false;

  constructor(target: CommitFeedTarget) {
    this.#target = target;
  }

  /** Takes one reported range (the store's `watchCommits` listener). */
  report(commit: CommittedRange): void {
    if (this.#stopped) return;
    const { stream, epoch, first, last } = commit;
    if (!(Number.isSafeInteger(first) && Number.isSafeInteger(last) && first >= 1)) return;
    if (last < first || !this.#target.hasLocalSubscribers(roomOf(stream))) return;
    let feed = this.#streams.get(stream);
    if (feed === undefined) {
      if (this.#streams.size >= this.#sweepAt) this.#forgetIdle();
      feed = { queue: [], running: false, epoch: "", sent: 0 };
      this.#streams.set(stream, feed);
    }
    if (feed.epoch === epoch && last <= feed.sent) return;
    enqueue(feed.queue, { stream, epoch, first, last });
    if (!feed.running) {
      feed.running = true;
      void this.#drain(stream, feed);
    }
  }

  /** Emits nothing more (the server closes); reads in flight end unemitted and unreported. */
  stop(): void {
    this.#stopped = true;
    for (const feed of this.#streams.values()) feed.queue.length = 0;
  }

  /** Resolves once no range is being read or emitted. */
  idle(): Promise<void> {
    if ([...this.#streams.values()].every((f) => !f.running)) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #drain(stream: string, feed: StreamFeed): Promise<void> {
    for (let range = feed.queue.shift(); range !== undefined; range = feed.queue.shift()) {
      try {
        await this.#emitRange(stream, feed, range);
      } catch (error) {
        log("reading %o %d–%d failed: %o", stream, range.first, range.last, error);
        // After `stop` the store may be closing too: nothing is emitted, nothing to report.
        if (!this.#stopped) this.#target.failed(error, stream);
      }
    }
    feed.running = false;
    if ([...this.#streams.values()].every((f) => !f.running)) {
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  async #emitRange(stream: string, feed: StreamFeed, range: CommittedRange): Promise<void> {
    const room = roomOf(stream);
    let after = range.first - 1;
    if (feed.epoch === range.epoch) after = Math.max(after, feed.sent);
    while (after < range.last && !this.#stopped && this.#target.hasLocalSubscribers(room)) {
      const limit = Math.min(this.#target.fetchLimit, range.last - after);
      const page = await this.#target.read(stream, { after, limit });
      // Another epoch: the range's log was reset; its events are gone.
      if (page.epoch !== range.epoch) return;
      // Above `after`, which is at least `sent` in this epoch: none was emitted yet.
      const records = page.records.filter((r) => r.offset > after && r.offset <= range.last);
      if (records.length === 0 || this.#stopped) return;
      this.#emit(stream, range.epoch, records, room);
      after = records.at(-1)!.offset;
      feed.epoch = range.epoch;
      feed.sent = after;
    }
  }

  #emit(stream: string, epoch: string, records: EventRecord[], room: string): void {
    let bytes = 0;
    for (const chunk of chunkByBytes(records, this.#target.maxBatchBytes)) {
      this.#target.emitLocal(room, { stream, epoch, records: packRecords(chunk) });
      for (const record of chunk) bytes += record.payload.byteLength;
    }
    this.#target.emitted(records.length, bytes);
    log("emitted %d committed events of %o", records.length, stream);
  }

  /**
   * Drops idle entries of streams without subscribers here (bounds the map: at most twice the
   * streams subscribed or running, or `MAX_IDLE_STREAMS`).
   */
  #forgetIdle(): void {
    for (const [stream, feed] of this.#streams) {
      if (!feed.running && !this.#target.hasLocalSubscribers(roomOf(stream))) {
        this.#streams.delete(stream);
      }
    }
    this.#sweepAt = Math.max(MAX_IDLE_STREAMS, 2 * this.#streams.size);
  }
}

/**
 * Queues a range, merging it into a queued one of the same epoch it overlaps or touches (the
 * merged range then waits at the earlier place); one of another epoch goes to the end.
 */
export function enqueue(queue: CommittedRange[], range: CommittedRange): void {
  for (const queued of queue) {
    if (
      queued.epoch === range.epoch &&
      range.first <= queued.last + 1 &&
      queued.first <= range.last + 1
    ) {
      queued.first = Math.min(queued.first, range.first);
      queued.last = Math.max(queued.last, range.last);
      return;
    }
  }
  queue.push({ ...range });
}

/**
 * Subscribes the server to its store's commit reports (`watchCommits`), if the store has them;
 * returns the function that stops them (undefined for a store without). Throws
 * `INVALID_ARGUMENT` when `watchCommits` returns no function to stop them.
 */
export function watchStoreCommits(ctx: ServerContext): (() => void) | undefined {
  const { store, nsp, limits } = ctx;
  if (typeof store.watchCommits !== "function") return undefined;
  const feed = new CommitFeed({
    read: (stream, options) => store.read(stream, options),
    hasLocalSubscribers: (room) => (nsp.adapter.rooms.get(room)?.size ?? 0) > 0,
    emitLocal: (room, frame) => {
      nsp.local.to(room).emit(FRAMES.batch, frame);
    },
    fetchLimit: limits.fetchLimit,
    maxBatchBytes: limits.maxBatchBytes,
    failed: (error, stream) =>
      ctx.report({
        kind: "store",
        error: toStoreError(error, "read"),
        operation: "commits",
        stream,
      }),
    emitted: (events, bytes) => ctx.metrics.committed(events, bytes),
  });
  const unwatch: unknown = store.watchCommits((commit) => feed.report(commit));
  if (typeof unwatch !== "function") {
    feed.stop();
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `options.store.watchCommits must return the function that stops its reports, got ${describe(unwatch)}.`,
    );
  }
  log("watching the store's commits");
  return () => {
    feed.stop();
    try {
      unwatch();
    } catch (error) {
      // A store's own stop function must not keep the server from closing.
      ctx.report({ kind: "store", error: toStoreError(error, "close"), operation: "commits" });
    }
  };
}
