import { AssuredError } from "./errors.js";
import type {
  AppendEntry,
  AppendResult,
  EventStore,
  EventStoreCapabilities,
  PackedPage,
  PackedReadOptions,
  ReadOptions,
  ReadResult,
  Retention,
  StreamHead,
} from "./event-store.js";
import {
  assertAppendEntries,
  assertReadOptions,
  assertRetention,
} from "./event-store-arguments.js";
import { newId } from "./ids.js";
import { createMemoryBackend, type MemoryBackend } from "./memory-backend.js";
import { assertMemoryBackendUp } from "./memory-outage.js";
import { MemoryStreamLog } from "./memory-stream-log.js";
import { type Clock, type EventRecord, type StreamName, systemClock } from "./types.js";
import { assertKnownOptions, assertPositiveInteger, assertStreamName } from "./validate.js";

/** Options of `MemoryEventStore`. */
export interface MemoryEventStoreOptions {
  /** Append times and age retention use this clock. Default: `systemClock`. */
  clock?: Clock;
  /**
   * Retention per stream. `maxLength` defaults to 10,000 even when only `maxAgeMs` is given, so
   * memory stays bounded; there is no age limit unless `maxAgeMs` is set.
   */
  retention?: Retention;
  /** Most streams kept; appending to or resetting a new stream beyond it is `LIMIT_EXCEEDED`. Default 100,000. */
  maxStreams?: number;
  /**
   * Data shared with other stores on the same backend (like connections to one database).
   * Default: a private backend, gone when the store is dropped.
   */
  backend?: MemoryBackend;
}

/** Default `maxLength` of the in-memory stores. */
export const DEFAULT_MEMORY_MAX_LENGTH = 10_000;
/** Default `maxStreams` of `MemoryEventStore`. */
export const DEFAULT_MEMORY_MAX_STREAMS = 100_000;

const OPTION_KEYS: readonly string[] = [
  "clock",
  "retention",
  "maxStreams",
  "backend",
] satisfies (keyof MemoryEventStoreOptions)[];

/**
 * The reference `EventStore`: every stream's log in memory, no I/O, safe in browsers. Each
 * operation runs atomically (nothing awaits inside it), so offsets are gapless and prefix
 * visibility holds for any number of concurrent callers and instances on one backend.
 * Payloads are copied in and out, so callers cannot alter stored records.
 *
 * Durability: none beyond the process; give several instances one `backend` to share data.
 *
 * @example
 * const store = new MemoryEventStore({ retention: { maxLength: 1000, maxAgeMs: 3_600_000 } });
 * const [result] = await store.append("room:1", [{ name: "message", payload: encode("hi") }]);
 */
export class MemoryEventStore implements EventStore {
  readonly capabilities: EventStoreCapabilities;
  private readonly clock: Clock;
  private readonly maxLength: number;
  private readonly maxAgeMs: number | undefined;
  private readonly maxStreams: number;
  private readonly backend: MemoryBackend;
  private closed = false;

  constructor(options: MemoryEventStoreOptions = {}) {
    assertKnownOptions(options, OPTION_KEYS, "MemoryEventStore", "MemoryEventStoreOptions");
    const retention = options.retention ?? {};
    assertRetention(retention);
    if (options.maxStreams !== undefined) assertPositiveInteger(options.maxStreams, "maxStreams");
    if (options.clock !== undefined && typeof options.clock !== "function") {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        "clock must be a function returning milliseconds.",
      );
    }
    this.clock = options.clock ?? systemClock;
    this.maxLength = retention.maxLength ?? DEFAULT_MEMORY_MAX_LENGTH;
    this.maxAgeMs = retention.maxAgeMs;
    this.maxStreams = options.maxStreams ?? DEFAULT_MEMORY_MAX_STREAMS;
    this.backend = options.backend ?? createMemoryBackend();
    const shared = options.backend !== undefined;
    this.capabilities = {
      sharedAcrossInstances: shared,
      persistent: shared,
      retentionByAge: true,
      retentionByLength: true,
    };
  }

  async append(stream: StreamName, entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    this.assertOpen();
    assertStreamName(stream);
    assertAppendEntries(entries);
    const log = this.logFor(stream);
    const now = this.clock();
    this.trim(log, now);
    if (log.epoch === "") log.epoch = newId();
    const epoch = log.epoch;
    const results: AppendResult[] = [];
    for (const entry of entries) {
      const id = entry.id ?? newId();
      const original = entry.id === undefined ? undefined : log.offsetOf(id);
      if (original !== undefined) {
        results.push({ offset: original, id, duplicate: true, epoch });
        continue;
      }
      const offset = log.head + 1;
      log.push({ stream, offset, id, name: entry.name, payload: entry.payload, time: now }); // copied
      results.push({ offset, id, duplicate: false, epoch });
    }
    this.trim(log, now);
    return results;
  }

  async read(stream: StreamName, options: ReadOptions): Promise<ReadResult> {
    this.assertOpen();
    assertStreamName(stream);
    assertReadOptions(options);
    const log = this.backend.streams.get(stream);
    if (log === undefined) return { epoch: "", head: 0, earliest: 1, records: [] };
    this.trim(log, this.clock());
    const records: EventRecord[] = [];
    const from = Math.max(options.after + 1, log.earliest);
    const to = Math.min(log.head, from + options.limit - 1);
    for (let offset = from; offset <= to; offset++) {
      const record = log.at(offset); // a copy
      if (record !== undefined) records.push(record);
    }
    return { epoch: log.epoch, head: log.head, earliest: log.earliest, records };
  }

  /** `read` packed for the wire: each payload copied once, into the page (`EventStore.readPacked`). */
  async readPacked(stream: StreamName, options: PackedReadOptions): Promise<PackedPage> {
    this.assertOpen();
    assertStreamName(stream);
    assertReadOptions(options);
    assertPositiveInteger(options.maxBytes, "maxBytes");
    const log = this.backend.streams.get(stream);
    if (log === undefined) {
      return { epoch: "", head: 0, earliest: 1, records: [], payloads: new Uint8Array(0) };
    }
    this.trim(log, this.clock());
    const from = Math.max(options.after + 1, log.earliest);
    const page = log.pack(from, from + options.limit - 1, options.maxBytes);
    return { epoch: log.epoch, head: log.head, earliest: log.earliest, ...page };
  }

  async head(stream: StreamName): Promise<StreamHead> {
    this.assertOpen();
    assertStreamName(stream);
    const log = this.backend.streams.get(stream);
    if (log === undefined) return { epoch: "", head: 0, earliest: 1 };
    this.trim(log, this.clock());
    return { epoch: log.epoch, head: log.head, earliest: log.earliest };
  }

  async reset(stream: StreamName): Promise<StreamHead> {
    this.assertOpen();
    assertStreamName(stream);
    const log = this.logFor(stream);
    log.restart(newId());
    return { epoch: log.epoch, head: 0, earliest: 1 };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new AssuredError("STORE_CLOSED", "This MemoryEventStore was closed; create a new one.");
    }
    assertMemoryBackendUp(this.backend, "MemoryEventStore");
  }

  /** The stream's log, created empty (epoch "") if it has none yet. */
  private logFor(stream: StreamName): MemoryStreamLog {
    const existing = this.backend.streams.get(stream);
    if (existing !== undefined) return existing;
    if (this.backend.streams.size >= this.maxStreams) {
      throw new AssuredError(
        "LIMIT_EXCEEDED",
        `MemoryEventStore holds ${this.maxStreams} streams (maxStreams); raise it or use a persistent store.`,
      );
    }
    const log = new MemoryStreamLog();
    this.backend.streams.set(stream, log);
    return log;
  }

  /** Applies retention: at most `maxLength` records, none older than `maxAgeMs`. */
  private trim(log: MemoryStreamLog, now: number): void {
    while (log.size > this.maxLength) log.shift();
    const maxAgeMs = this.maxAgeMs;
    if (maxAgeMs === undefined) return;
    for (let t = log.oldestTime(); t !== undefined && now - t > maxAgeMs; t = log.oldestTime()) {
      log.shift();
    }
  }
}
