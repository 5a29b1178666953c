import { pageCut } from "./page-cut.js";
import type { WireRecord } from "./protocol.js";
import type { EventRecord, StreamName } from "./types.js";

/** Bytes of one payload slab: small payloads are copied into shared slabs of this size. */
const SLAB_BYTES = 64 * 1024;
/** Payloads larger than this get a buffer of their own (a slab would waste its rest). */
const OWN_BUFFER_BYTES = 8 * 1024;

/**
 * One stream's log as the in-memory stores keep it: the epoch, the head and the retained
 * records (consecutive offsets), with an index from event id to offset for idempotent appends.
 *
 * Records are kept in columns (ids, names, times, payload places) rather than as one object
 * each, and payloads are copied into shared 64 KiB slabs rather than one buffer each (a
 * `Uint8Array` and its `ArrayBuffer` cost about 200 bytes besides the bytes): about 150 bytes
 * per retained small event instead of about 700. A slab is freed once no retained record
 * points into it. Trimming from the front is amortized O(1): the columns are compacted once
 * half of them is dead.
 */
export class MemoryStreamLog {
  /** The log's incarnation; `""` until the first append or reset. */
  epoch = "";
  /** The newest offset ever appended in this epoch. */
  head = 0;
  #stream: StreamName = "";
  #ids: string[] = [];
  #names: string[] = [];
  #times: number[] = [];
  /** The slab (or own buffer) of each record's payload, its start in it and its length. */
  #slabs: Uint8Array[] = [];
  #starts: number[] = [];
  #lengths: number[] = [];
  /** Index of the oldest retained record in the columns. */
  #start = 0;
  /** The slab new small payloads go to, and how much of it is used. */
  #tail: Uint8Array | undefined;
  #tailUsed = 0;
  readonly #offsets = new Map<string, number>();

  /** Number of retained records. */
  get size(): number {
    return this.#ids.length - this.#start;
  }

  /** Offset of the oldest retained record; `head + 1` when none is retained. */
  get earliest(): number {
    return this.head - this.size + 1;
  }

  /** The offset of a retained event with this id, if any. */
  offsetOf(id: string): number | undefined {
    return this.#offsets.get(id);
  }

  /** Appends one record, copying its payload; its offset must be `head + 1`. */
  push(record: EventRecord): void {
    const { payload } = record;
    const length = payload.byteLength;
    let slab: Uint8Array;
    let start = 0;
    if (length > OWN_BUFFER_BYTES) {
      slab = payload.slice();
    } else {
      if (this.#tail === undefined || this.#tailUsed + length > SLAB_BYTES) {
        this.#tail = new Uint8Array(SLAB_BYTES);
        this.#tailUsed = 0;
      }
      slab = this.#tail;
      start = this.#tailUsed;
      slab.set(payload, start);
      this.#tailUsed += length;
    }
    this.#stream = record.stream;
    this.#ids.push(record.id);
    this.#names.push(record.name);
    this.#times.push(record.time);
    this.#slabs.push(slab);
    this.#starts.push(start);
    this.#lengths.push(length);
    this.head = record.offset;
    this.#offsets.set(record.id, record.offset);
  }

  /** The retained record at `offset`, if any, with a copy of its payload. */
  at(offset: number): EventRecord | undefined {
    if (offset < this.earliest || offset > this.head) return undefined;
    const i = this.#start + (offset - this.earliest);
    const start = this.#starts[i]!;
    return {
      stream: this.#stream,
      offset,
      id: this.#ids[i]!,
      name: this.#names[i]!,
      payload: this.#slabs[i]!.slice(start, start + this.#lengths[i]!),
      time: this.#times[i]!,
    };
  }

  /**
   * The retained records `from..to` packed for the wire (see `packRecords`), cut after
   * `maxBytes` of payloads (the first record always fits): each payload copied once, into the
   * page's buffer.
   */
  pack(
    from: number,
    to: number,
    maxBytes: number,
  ): { records: WireRecord[]; payloads: Uint8Array } {
    const first = Math.max(from, this.earliest);
    const last = Math.min(to, this.head);
    const base = this.#start - this.earliest;
    const lengths = this.#lengths;
    const cut = pageCut(Math.max(0, last - first + 1), (n) => lengths[base + first + n]!, maxBytes);
    const end = first + cut.count;
    const records: WireRecord[] = new Array(cut.count);
    const payloads = new Uint8Array(cut.bytes);
    let at = 0;
    for (let offset = first; offset < end; offset++) {
      const i = base + offset;
      const start = this.#starts[i]!;
      const length = this.#lengths[i]!;
      payloads.set(this.#slabs[i]!.subarray(start, start + length), at);
      at += length;
      records[offset - first] = [offset, this.#ids[i]!, this.#names[i]!, length, this.#times[i]!];
    }
    return { records, payloads };
  }

  /** Drops the oldest retained record. */
  shift(): void {
    if (this.size === 0) return;
    this.#offsets.delete(this.#ids[this.#start]!);
    this.#start++;
    if (this.#start > 1024 && this.#start * 2 > this.#ids.length) {
      const from = this.#start;
      this.#ids = this.#ids.slice(from);
      this.#names = this.#names.slice(from);
      this.#times = this.#times.slice(from);
      this.#slabs = this.#slabs.slice(from);
      this.#starts = this.#starts.slice(from);
      this.#lengths = this.#lengths.slice(from);
      this.#start = 0;
    }
  }

  /** The oldest retained record (a copy), if any. */
  oldest(): EventRecord | undefined {
    return this.at(this.earliest);
  }

  /** The append time of the oldest retained record, if any. */
  oldestTime(): number | undefined {
    return this.size === 0 ? undefined : this.#times[this.#start];
  }

  /** Forgets every record and starts the given epoch at head 0. */
  restart(epoch: string): void {
    this.epoch = epoch;
    this.head = 0;
    this.#ids = [];
    this.#names = [];
    this.#times = [];
    this.#slabs = [];
    this.#starts = [];
    this.#lengths = [];
    this.#start = 0;
    this.#tail = undefined;
    this.#tailUsed = 0;
    this.#offsets.clear();
  }
}
