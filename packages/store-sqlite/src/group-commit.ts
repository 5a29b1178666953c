import { toStoreError } from "@assured/core/store";

interface Pending<Op, Result> {
  op: Op;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: operations submitted in the same turn of the event loop are written together by
 * one call of `write` (one transaction), on `setImmediate`. The queue is bounded: once it holds
 * `maxWeight` (e.g. entries), it is written at once, synchronously.
 */
export class GroupCommit<Op, Result> {
  private queue: Pending<Op, Result>[] = [];
  private queuedWeight = 0;
  private scheduled = false;

  constructor(
    private readonly write: (ops: readonly Op[]) => Result[],
    private readonly maxWeight: number,
    private readonly operation: string,
  ) {}

  /** Queues `op` for the next group write; resolves with its result once committed. */
  submit(op: Op, weight: number): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      this.queuedWeight += weight;
      if (this.queuedWeight >= this.maxWeight) {
        this.flush();
      } else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  /** Writes everything queued now, in one call of `write`. */
  flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.queuedWeight = 0;
    let results: Result[];
    try {
      results = this.write(batch.map((pending) => pending.op));
    } catch (error) {
      const storeError = toStoreError(error, this.operation);
      for (const pending of batch) pending.reject(storeError);
      return;
    }
    batch.forEach((pending, i) => {
      pending.resolve(results[i]!);
    });
  }
}
