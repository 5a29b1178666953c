import type { Clock, Retention, StreamHead } from "@assured/core/store";
import type { StreamDocument } from "./documents.js";
import type { HeadCache } from "./head-cache.js";
import type { LogAccess } from "./log-access.js";

/** A stream's state as one read computed it. */
export interface LogState extends StreamHead {
  meta: StreamDocument;
}

/**
 * Computes head and earliest of a stream's current epoch. The head is found from the stream's
 * floor (or the instance's cached head); earliest applies the trimmed-through mark, `maxLength`
 * and `maxAgeMs` judged by the store's clock — so retention holds exactly whether or not the
 * server has already deleted the expired documents.
 */
export class LogStateReader {
  constructor(
    private readonly access: LogAccess,
    private readonly heads: HeadCache,
    private readonly retention: Retention,
    private readonly clock: Clock,
  ) {}

  /** The head of `meta`'s epoch. */
  async head(meta: StreamDocument): Promise<number> {
    const floor = Math.max(meta.h, this.heads.get(meta._id, meta.e));
    const head = await this.access.findHead(meta.e, floor);
    this.heads.set(meta._id, meta.e, head);
    return head;
  }

  /** The oldest retained offset of `meta`'s epoch with this head (head + 1 if none). */
  async earliest(meta: StreamDocument, head: number): Promise<number> {
    let base = meta.f + 1;
    const { maxLength, maxAgeMs } = this.retention;
    if (maxLength !== undefined) base = Math.max(base, head - maxLength + 1);
    if (base > head) return head + 1;
    if (maxAgeMs === undefined) return base;
    const cutoff = this.clock() - maxAgeMs;
    return (await this.access.firstYoungerThan(meta.e, base, head, cutoff)) ?? head + 1;
  }

  /** Epoch, head and earliest of `meta`'s stream. */
  async state(meta: StreamDocument): Promise<LogState> {
    const head = await this.head(meta);
    return { meta, epoch: meta.e, head, earliest: await this.earliest(meta, head) };
  }
}
