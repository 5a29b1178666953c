import type { EventRecord } from "./types.js";

/**
 * One stream's log as the in-memory stores keep it: the epoch, the head and the retained
 * records (consecutive offsets), with an index from event id to offset for idempotent appends.
 * Trimming from the front is amortized O(1): the array is compacted once half of it is dead.
 */
export class MemoryStreamLog {
  /** The log's incarnation; `""` until the first append or reset. */
  epoch = "";
  /** The newest offset ever appended in this epoch. */
  head = 0;
  private records: EventRecord[] = [];
  private start = 0;
  private readonly ids = new Map<string, number>();

  /** Number of retained records. */
  get size(): number {
    return this.records.length - this.start;
  }

  /** Offset of the oldest retained record; `head + 1` when none is retained. */
  get earliest(): number {
    return this.head - this.size + 1;
  }

  /** The offset of a retained event with this id, if any. */
  offsetOf(id: string): number | undefined {
    return this.ids.get(id);
  }

  /** Appends one record; its offset must be `head + 1`. */
  push(record: EventRecord): void {
    this.records.push(record);
    this.ids.set(record.id, record.offset);
    this.head = record.offset;
  }

  /** The retained record at `offset`, if any. */
  at(offset: number): EventRecord | undefined {
    if (offset < this.earliest || offset > this.head) return undefined;
    return this.records[this.start + (offset - this.earliest)];
  }

  /** Drops the oldest retained record. */
  shift(): void {
    const oldest = this.records[this.start];
    if (oldest === undefined) return;
    this.ids.delete(oldest.id);
    this.start++;
    if (this.start > 1024 && this.start * 2 > this.records.length) {
      this.records = this.records.slice(this.start);
      this.start = 0;
    }
  }

  /** The oldest retained record, if any. */
  oldest(): EventRecord | undefined {
    return this.records[this.start];
  }

  /** Forgets every record and starts the given epoch at head 0. */
  restart(epoch: string): void {
    this.epoch = epoch;
    this.head = 0;
    this.records = [];
    this.start = 0;
    this.ids.clear();
  }
}
