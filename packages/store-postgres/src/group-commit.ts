import { AssuredError } from "@assured/core";
import { MAX_APPEND_BATCH, toStoreError } from "@assured/core/store";

interface Pending<Op, Result> {
  op: Op;
  weight: number;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

/**
 * Group commit: operations submitted in the same tick — and every one that arrives while the
 * previous group is being written — are written together by one call of `write` (one
 * transaction). One group is in flight at a time, so an instance never races itself for a
 * stream's row lock; a group holds at most `MAX_APPEND_BATCH` weight (entries) unless a single
 * operation is larger. At most `maxQueued` weight waits (LIMIT_EXCEEDED beyond: backpressure).
 */
export class GroupCommit<Op, Result> {
  private queue: Pending<Op, Result>[] = [];
  private queuedWeight = 0;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly write: (ops: readonly Op[]) => Promise<Result[]>,
    private readonly maxQueued: number,
    private readonly operation: string,
  ) {}

  /** Queues `op` for the next group; resolves with its result once the group committed. */
  submit(op: Op, weight: number): Promise<Result> {
    if (this.queuedWeight + weight > this.maxQueued) {
      return Promise.reject(
        new AssuredError(
          "LIMIT_EXCEEDED",
          `more than ${this.maxQueued} entries are waiting to be appended (maxQueuedEntries); ` +
            "await earlier appends before issuing more.",
          { details: { maxQueuedEntries: this.maxQueued } },
        ),
      );
    }
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ op, weight, resolve, reject });
      this.queuedWeight += weight;
      // Start after this tick's synchronous code, so its submissions join the group.
      this.writing ??= new Promise<void>((started) => queueMicrotask(started)).then(() =>
        this.drain(),
      );
    });
  }

  /** Resolves once everything queued so far has been written (or has failed). */
  async flush(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
  }

  private takeGroup(): Pending<Op, Result>[] {
    let weight = 0;
    let count = 0;
    while (
      count < this.queue.length &&
      (count === 0 || weight + this.queue[count]!.weight <= MAX_APPEND_BATCH)
    ) {
      weight += this.queue[count]!.weight;
      count++;
    }
    this.queuedWeight -= weight;
    return this.queue.splice(0, count);
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const group = this.takeGroup();
        try {
          const results = await this.write(group.map((pending) => pending.op));
          group.forEach((pending, i) => {
            pending.resolve(results[i]!);
          });
        } catch (error) {
          const failure = toStoreError(error, this.operation);
          for (const pending of group) pending.reject(failure);
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}
