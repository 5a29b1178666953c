import { AssuredError } from "@assured/core";
import {
  type AppendEntry,
  type AppendResult,
  MAX_APPEND_BATCH,
  toStoreError,
} from "@assured/core/store";

interface QueuedAppend {
  entries: readonly AppendEntry[];
  resolve(results: AppendResult[]): void;
  reject(error: unknown): void;
}

/** Writes one stream's merged batch; returns one result per entry, in order. */
export type BatchWriter = (stream: string, entries: AppendEntry[]) => Promise<AppendResult[]>;

/**
 * Group commit: appends to a stream issued in the same tick — and any that arrive while that
 * stream's previous batch is being written — go to the server as one `insertMany`. Streams are
 * written concurrently; one stream's batches one after another, so an instance never races
 * itself for offsets. At most `maxQueued` entries wait (LIMIT_EXCEEDED beyond).
 */
export class GroupCommit {
  private readonly queues = new Map<string, QueuedAppend[]>();
  private readonly draining = new Set<Promise<void>>();
  private queuedEntries = 0;
  private closed = false;

  constructor(
    private readonly write: BatchWriter,
    private readonly maxQueued: number,
  ) {}

  /** Queues entries for the stream's next batch; resolves with their results. */
  append(stream: string, entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    if (this.closed) return Promise.reject(closedError());
    if (this.queuedEntries + entries.length > this.maxQueued) {
      return Promise.reject(
        new AssuredError(
          "LIMIT_EXCEEDED",
          `more than ${this.maxQueued} entries are waiting to be appended; retry when earlier appends resolve.`,
          { details: { maxQueuedEntries: this.maxQueued } },
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.queuedEntries += entries.length;
      const queue = this.queues.get(stream);
      if (queue !== undefined) {
        queue.push({ entries, resolve, reject });
        return;
      }
      this.queues.set(stream, [{ entries, resolve, reject }]);
      const run = new Promise<void>((started) => queueMicrotask(started)).then(() =>
        this.drain(stream),
      );
      this.draining.add(run);
      void run.finally(() => this.draining.delete(run));
    });
  }

  private takeBatch(queue: QueuedAppend[]): QueuedAppend[] {
    let size = 0;
    let count = 0;
    while (
      count < queue.length &&
      (count === 0 || size + queue[count]!.entries.length <= MAX_APPEND_BATCH)
    ) {
      size += queue[count]!.entries.length;
      count++;
    }
    const batch = queue.splice(0, count);
    this.queuedEntries -= size;
    return batch;
  }

  private async drain(stream: string): Promise<void> {
    for (;;) {
      const queue = this.queues.get(stream);
      if (queue === undefined) return;
      if (queue.length === 0) {
        this.queues.delete(stream);
        return;
      }
      const batch = this.takeBatch(queue);
      try {
        const results = await this.write(
          stream,
          batch.flatMap((a) => a.entries),
        );
        let at = 0;
        for (const queued of batch) {
          queued.resolve(results.slice(at, at + queued.entries.length));
          at += queued.entries.length;
        }
      } catch (error) {
        const failure = toStoreError(error, "append");
        for (const queued of batch) queued.reject(failure);
      }
    }
  }

  /** Fails every queued append with `STORE_CLOSED` and waits for batches being written. */
  async close(): Promise<void> {
    this.closed = true;
    const closed = closedError();
    for (const queue of this.queues.values()) {
      for (const queued of queue.splice(0)) queued.reject(closed);
    }
    this.queuedEntries = 0;
    await Promise.allSettled([...this.draining]);
  }
}

function closedError(): AssuredError {
  return new AssuredError("STORE_CLOSED", "the store was closed; create a new instance.");
}
