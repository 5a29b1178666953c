import type { WireRecord } from "./protocol.js";
import type { Epoch, EventRecord, Offset, StreamName } from "./types.js";

/**
 * One event to append. `id` is the publisher's idempotency id: appending an id the stream
 * already holds (within the idempotency window) appends nothing. Without an `id` the store
 * generates a unique one.
 */
export interface AppendEntry {
  id?: string;
  name: string;
  payload: Uint8Array;
}

/** The result of appending one entry, in the same order as the entries given. */
export interface AppendResult {
  /** The offset the entry has in the stream (the original one for a duplicate). */
  offset: Offset;
  /** The entry's id (the generated one if none was given). */
  id: string;
  /** True when the stream already held this id: nothing was appended. */
  duplicate: boolean;
  /** The epoch of the log the offset belongs to. */
  epoch: Epoch;
}

/**
 * The state of a stream's log.
 * - `epoch`: the log's incarnation; `""` if the stream has no log yet (never appended, never reset).
 * - `head`: the offset of the newest event, 0 if none was ever appended in this epoch.
 * - `earliest`: the offset of the oldest retained event; `head + 1` when none is retained.
 *
 * A consumer at position `p` (same epoch) can be brought up to date from this log if and only
 * if `p >= earliest - 1`.
 */
export interface StreamHead {
  epoch: Epoch;
  head: Offset;
  earliest: Offset;
}

/** What to read: events with offset greater than `after`, at most `limit` of them (1–10,000). */
export interface ReadOptions {
  after: Offset;
  limit: number;
}

/** A page of a stream's log, with the log's state at the time of the read. */
export interface ReadResult extends StreamHead {
  /** Consecutive records in offset order, starting at `max(after + 1, earliest)`. */
  records: EventRecord[];
}

/** What to read packed for the wire: as `ReadOptions`, and at most `maxBytes` of payloads. */
export interface PackedReadOptions extends ReadOptions {
  /** Most payload bytes of the page; its first record is included whatever its size. */
  maxBytes: number;
}

/**
 * A page of a stream's log packed for the wire (`EventStore.readPacked`): what `packRecords`
 * makes of the records `read` returns, cut after `maxBytes` of payloads.
 */
export interface PackedPage extends StreamHead {
  /** `[offset, id, name, payload length, time]` of consecutive records from `max(after + 1, earliest)`. */
  records: WireRecord[];
  /** Their payloads concatenated in order, in a buffer of the caller's own. */
  payloads: Uint8Array;
}

/** Retention of a stream's log. Events beyond either bound may be trimmed from the front. */
export interface Retention {
  /** Keep at most this many of the newest events per stream. */
  maxLength?: number;
  /** Trim events older than this many milliseconds (by their append time). */
  maxAgeMs?: number;
}

/** What a store can do; the conformance kit skips a case only for a declared lack, and says why. */
export interface EventStoreCapabilities {
  /** Several instances (connections, processes) can open the same log concurrently. */
  sharedAcrossInstances: boolean;
  /** A new instance on the same backing data sees the data, head and epoch (durable). */
  persistent: boolean;
  /** The store enforces `maxAgeMs` retention. */
  retentionByAge: boolean;
  /** The store enforces `maxLength` retention. */
  retentionByLength: boolean;
}

/**
 * The event log contract every store implements (DESIGN.md §4). All methods validate their
 * arguments and throw `AssuredError` (`INVALID_STREAM`, `INVALID_OFFSET`, `INVALID_ARGUMENT`)
 * before touching state, and report backend failures as `STORE_UNAVAILABLE` — never a raw
 * driver error. After `close()` every method rejects with `STORE_CLOSED`.
 *
 * **Offsets.** Per stream, `append` assigns 1, 2, 3… atomically and consecutively: gapless and
 * strictly increasing, even with many concurrent appenders on several instances.
 *
 * **Prefix visibility.** Once any reader has seen offset n, every later read sees every retained
 * offset ≤ n. A reader must never see n+1 while n (committed or not) is still invisible: a
 * consumer cursor that skipped n would lose it forever.
 *
 * **Idempotent append.** An entry whose `id` the stream already holds (while that event is
 * retained — the idempotency window) appends nothing and resolves with the original offset and
 * `duplicate: true`. Two entries with the same id in one batch: the second is a duplicate of
 * the first.
 *
 * **Trimmed ids.** The idempotency window is the retention: an id is held exactly while its
 * event is retained. Retention is applied before an append looks for duplicates (by length,
 * and by age with the store's clock even if no read trimmed the event yet), so an id whose
 * event was trimmed — `offset < earliest` — is forgotten: appending it again appends a new
 * event at a new offset with `duplicate: false`. A store never answers `duplicate: true` with
 * an offset below the `earliest` it had when the append began. (An id repeated by an append
 * whose own new events push its event out of `maxLength` may be answered either way.) Why: a
 * duplicate answer for a trimmed event tells a retrying publisher "already stored" for an
 * event no consumer can read any more (a consumer that had not reached it yet would silently
 * lose it), while appending again is at worst a second delivery of the same id,
 * which consumers already handle (G3: handlers get `id`). It also keeps every store's id index
 * bounded by its retention (G11). The memory, SQLite and MongoDB (on MongoDB) stores did this
 * already; Redis (age retention without a read in between) and MongoDB on FerretDB (until its
 * sweep ran) were fixed to.
 *
 * **Epochs.** A stream's epoch is created atomically with its first append and never changes
 * while the log exists — across process restarts and reconnects. It changes if and only if the
 * log was lost or `reset`: offsets may then start again at 1.
 *
 * **Durability.** A resolved `append` survives a process crash (as far as the store's configured
 * durability promises; document it).
 *
 * **Group commit.** Appends issued in the same tick should be written in one transaction or
 * pipeline; the live path depends on it for throughput.
 *
 * **Stream names** are opaque data: any 1–256 code points, including `*`, `{`, newlines,
 * quotes, `$`, `/`, `..` and emoji, must neither break key structure nor reach a query as code.
 */
export interface EventStore {
  /** What this store supports; see `EventStoreCapabilities`. */
  readonly capabilities: EventStoreCapabilities;

  /**
   * Appends entries to a stream (1–10,000 per call), returning one result per entry in order.
   * Resolves only once the events are durable (G4).
   */
  append(stream: StreamName, entries: readonly AppendEntry[]): Promise<AppendResult[]>;

  /** Reads events after `options.after`, oldest first, at most `options.limit`. */
  read(stream: StreamName, options: ReadOptions): Promise<ReadResult>;

  /**
   * Optional fast path of `read` for the server's catch-up pages: the same page packed for the
   * wire, each payload copied once, straight into the page's buffer (no record objects).
   */
  readPacked?(stream: StreamName, options: PackedReadOptions): Promise<PackedPage>;

  /** The stream's epoch, head and earliest retained offset. Creates nothing. */
  head(stream: StreamName): Promise<StreamHead>;

  /** Drops a stream's log and starts a new epoch; returns the new state (head 0). */
  reset(stream: StreamName): Promise<StreamHead>;

  /** Releases connections and handles. Idempotent. */
  close(): Promise<void>;
  /**
   * Optional: reports events committed by writers outside the server's publish path — an
   * application's own transaction (transactional publish), in this process or another one
   * sharing the data. The listener is called after the commit, never for a rolled-back
   * transaction, per stream in commit order as far as the backend allows; a range may be
   * reported more than once. The server reads each range and emits it to its local
   * subscribers. Returns a function that stops the reports.
   */
  watchCommits?(listener: (commit: CommittedRange) => void): () => void;
}

/** Events `first`…`last` (inclusive) of `stream` in `epoch`, committed outside `publish`. */
export interface CommittedRange {
  stream: StreamName;
  epoch: Epoch;
  first: Offset;
  last: Offset;
}
