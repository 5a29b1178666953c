import type { Retention } from "@assured/core/store";

/** One event as the model keeps it. */
export interface ModelRecord {
  offset: number;
  id: string;
  name: string;
  payload: Uint8Array;
  time: number;
}

/** One entry of an append as the model sees it: the id is the given one or the store's generated one. */
export interface ModelEntry {
  id: string;
  /** Whether the caller gave the id (only given ids can be duplicates). */
  given: boolean;
  name: string;
  payload: Uint8Array;
}

/** What the model expects for one appended entry. */
export interface ModelAppendResult {
  offset: number;
  duplicate: boolean;
}

/** The model's answer to an append. */
export interface ModelAppend {
  /** The expected result of each entry, in order. */
  results: ModelAppendResult[];
  /** The generation (1, 2, 3…) of the log the append went to. */
  generation: number;
  /**
   * Entries (by index) the store appended again although their id was retained when the append
   * began and is still retained after it: the contract allows that only for an id the append's
   * own new events pushed out of `maxLength`.
   */
  forbiddenReappends: number[];
}

/** A stream's state in the model: `generation` 0 means no log (epoch `""`). */
export interface ModelState {
  generation: number;
  head: number;
  earliest: number;
}

interface ModelStream {
  generation: number;
  head: number;
  /** The retained records, consecutive, oldest first (trimmed lazily by `trim`). */
  records: ModelRecord[];
}

/**
 * A plain reference model of the EventStore contract, independent of every store: per stream
 * a generation (which epoch: 0 = no log, a reset or the first append starts the next), the
 * head, and the retained records with their ids, times and payloads. Retention is applied by
 * the clock value given to each call, before anything looks at the log: by `maxLength` (the
 * newest events) and by `maxAgeMs` (an event is trimmed once `now - time > maxAgeMs`). An id is
 * held exactly while its event is retained (the trimmed-id rule).
 */
export class EventLogModel {
  private readonly streams = new Map<string, ModelStream>();

  constructor(readonly retention: Retention = {}) {}

  /** The stream's epoch generation, head and earliest retained offset at `now`. */
  state(stream: string, now: number): ModelState {
    const log = this.trimmed(stream, now);
    return { generation: log.generation, head: log.head, earliest: earliestOf(log) };
  }

  /** What `read(stream, { after, limit })` must return at `now`: the state and the records. */
  read(stream: string, after: number, limit: number, now: number) {
    const state = this.state(stream, now);
    const from = Math.max(after + 1, state.earliest);
    const records = this.trimmed(stream, now).records.filter((r) => r.offset >= from);
    return { ...state, records: records.slice(0, limit) };
  }

  /** Every retained record of the stream at `now`. */
  records(stream: string, now: number): readonly ModelRecord[] {
    return this.trimmed(stream, now).records;
  }

  /** The offset of the retained event holding `id` at `now`, if any. */
  heldOffset(stream: string, id: string, now: number): number | undefined {
    return findHeld(this.trimmed(stream, now).records, id);
  }

  /**
   * Appends entries at `now`. An entry whose given id is held is a duplicate of the held
   * offset, unless its index is in `reappended`: the store chose to append it again, which the
   * contract allows only when this append's own new events push the held event out of
   * `maxLength` (reported in `forbiddenReappends`, appended anyway so the comparison goes on).
   */
  append(
    stream: string,
    entries: readonly ModelEntry[],
    now: number,
    reappended: ReadonlySet<number> = new Set(),
  ): ModelAppend {
    const log = this.trimmed(stream, now);
    if (log.generation === 0) log.generation = 1;
    const heldOffsets = new Map<number, number>();
    const results = entries.map((entry, index): ModelAppendResult => {
      const held = entry.given ? findHeld(log.records, entry.id) : undefined;
      if (held !== undefined && !reappended.has(index)) return { offset: held, duplicate: true };
      if (held !== undefined) heldOffsets.set(index, held);
      log.head += 1;
      log.records.push({ ...entry, payload: entry.payload.slice(), time: now, offset: log.head });
      return { offset: log.head, duplicate: false };
    });
    this.trim(log, now);
    const earliest = earliestOf(log);
    const forbiddenReappends = [...heldOffsets]
      .filter(([, offset]) => offset >= earliest)
      .map(([index]) => index);
    return { results, generation: log.generation, forbiddenReappends };
  }

  /**
   * Adds records the store appended concurrently, in offset order, continuing at the head (the
   * serialization the results showed). Starts the first generation if the stream had no log.
   */
  place(stream: string, records: readonly ModelRecord[], now: number): void {
    const log = this.trimmed(stream, now);
    if (log.generation === 0) log.generation = 1;
    for (const record of records) {
      log.head = record.offset;
      log.records.push({ ...record, payload: record.payload.slice() });
    }
    this.trim(log, now);
  }

  /** Drops the stream's log and starts the next generation at head 0. */
  reset(stream: string): number {
    const log = this.log(stream);
    log.generation += 1;
    log.head = 0;
    log.records = [];
    return log.generation;
  }

  private log(stream: string): ModelStream {
    let log = this.streams.get(stream);
    if (log === undefined) {
      log = { generation: 0, head: 0, records: [] };
      this.streams.set(stream, log);
    }
    return log;
  }

  private trimmed(stream: string, now: number): ModelStream {
    const log = this.log(stream);
    this.trim(log, now);
    return log;
  }

  private trim(log: ModelStream, now: number): void {
    const { maxLength, maxAgeMs } = this.retention;
    let drop = 0;
    if (maxLength !== undefined) drop = Math.max(0, log.records.length - maxLength);
    if (maxAgeMs !== undefined) {
      while (drop < log.records.length && now - log.records[drop]!.time > maxAgeMs) drop++;
    }
    if (drop > 0) log.records = log.records.slice(drop);
  }
}

function earliestOf(log: ModelStream): number {
  return log.records[0]?.offset ?? log.head + 1;
}

/** The offset of the newest retained record with `id` (records hold each id once but for reappends). */
function findHeld(records: readonly ModelRecord[], id: string): number | undefined {
  for (let i = records.length - 1; i >= 0; i--) {
    if (records[i]!.id === id) return records[i]!.offset;
  }
  return undefined;
}
