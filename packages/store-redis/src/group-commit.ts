import { AssuredError } from "@assured/core";
import type { AppendResult } from "@assured/core/store";

/** One `append` call waiting for its stream's next write. */
export interface QueuedAppend {
  entries: readonly { id: string; name: string; payload: Uint8Array }[];
  resolve(results: AppendResult[]): void;
  reject(error: unknown): void;
}

/** Writes a group of whole `append` calls for one stream in one server-side step. */
export type GroupWriter = (stream: string, group: readonly QueuedAppend[]) => Promise<void>;

/**
 * Group commit: `append` calls issued in the same tick are merged per stream and written
 * together once the tick's synchronous code is done (a microtask) — one script call per
 * stream, all sent back to back on the connection (pipelined). A call's entries are never split across
 * writes, so each call's offsets stay consecutive; a group holds at most `maxEntries` entries
 * unless a single call is larger. The queue only ever holds one tick's calls, and at most
 * `maxPendingEntries` entries wait (queued or in flight) at once: beyond that `add` throws
 * `LIMIT_EXCEEDED` (backpressure: await earlier appends first).
 */
export class GroupCommit {
  private queued = new Map<string, QueuedAppend[]>();
  private scheduled = false;
  private readonly inFlight = new Set<Promise<void>>();
  private pendingEntries = 0;

  constructor(
    private readonly write: GroupWriter,
    private readonly maxEntries: number,
    private readonly maxPendingEntries: number,
  ) {}

  /** Queues one call; resolves with its results once its group is written. */
  add(stream: string, entries: QueuedAppend["entries"]): Promise<AppendResult[]> {
    if (this.pendingEntries + entries.length > this.maxPendingEntries) {
      throw new AssuredError(
        "LIMIT_EXCEEDED",
        `more than ${this.maxPendingEntries} appended entries are waiting for Redis; await earlier appends before issuing more.`,
        { details: { pendingEntries: this.pendingEntries, limit: this.maxPendingEntries } },
      );
    }
    this.pendingEntries += entries.length;
    return new Promise((resolve, reject) => {
      // The entries stop counting as pending as soon as the call settles.
      const call: QueuedAppend = {
        entries,
        resolve: (results) => {
          this.pendingEntries -= entries.length;
          resolve(results);
        },
        reject: (error) => {
          this.pendingEntries -= entries.length;
          reject(error);
        },
      };
      const list = this.queued.get(stream);
      if (list) list.push(call);
      else this.queued.set(stream, [call]);
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  /** Writes everything queued now and waits for every write in flight. */
  async drain(): Promise<void> {
    this.flush();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private flush(): void {
    this.scheduled = false;
    const queued = this.queued;
    this.queued = new Map();
    for (const [stream, calls] of queued) {
      let group: QueuedAppend[] = [];
      let size = 0;
      for (const call of calls) {
        if (group.length > 0 && size + call.entries.length > this.maxEntries) {
          this.start(stream, group);
          group = [];
          size = 0;
        }
        group.push(call);
        size += call.entries.length;
      }
      this.start(stream, group);
    }
  }

  private start(stream: string, group: QueuedAppend[]): void {
    const done = this.write(stream, group).catch((error: unknown) => {
      for (const call of group) call.reject(error);
    });
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
  }
}
