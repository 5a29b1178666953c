import { AssuredError } from "@assured/core";
import {
  type AppendEntry,
  type AppendResult,
  assertAppendEntries,
  assertPositiveInteger,
  assertReadOptions,
  assertStreamName,
  type CommittedRange,
  type EventStore,
  type EventStoreCapabilities,
  GroupWriter,
  MAX_APPEND_BATCH,
  type PackedPage,
  type PackedReadOptions,
  type ReadOptions,
  type ReadResult,
  type StreamHead,
  type TransactionalEntry,
  toStoreError,
} from "@assured/core/store";
import type Database from "better-sqlite3";
import { CommitWatcher } from "./commit-watcher.js";
import { SqliteConnection } from "./connection.js";
import { EventLog, type LogWrite, type LogWriteResult } from "./event-log.js";
import {
  assertOptionsObject,
  EVENT_STORE_OPTION_KEYS,
  resolveClock,
  resolveConnectionOptions,
  resolveRetention,
  resolveSweepInterval,
  type SqliteEventStoreOptions,
} from "./options.js";
import { SweepTimer } from "./sweep-timer.js";
import { type AppendInTransactionOptions, TransactionalAppender } from "./transactional-append.js";

/** Most entries per group transaction (a larger single append goes alone). */
const MAX_GROUP_ENTRIES = MAX_APPEND_BATCH;
/** Streams trimmed per transaction by `trimExpired`. */
const TRIM_BATCH_STREAMS = 500;

/**
 * An `EventStore` on a SQLite file (better-sqlite3, WAL mode). Appends issued in the same turn
 * of the event loop are committed in one transaction (group commit); several stores,
 * connections and processes may share one file.
 *
 * @example
 * const store = new SqliteEventStore({ path: "events.sqlite", retention: { maxLength: 10_000 } });
 * const [{ offset, epoch }] = await store.append("room:1", [{ name: "msg", payload: encode("hi") }]);
 * const { records } = await store.read("room:1", { after: 0, limit: 100 });
 * await store.close();
 */
export class SqliteEventStore implements EventStore {
  /** Shared, persistent (unless `:memory:`), retention by length and age. */
  readonly capabilities: EventStoreCapabilities;
  private readonly connection: SqliteConnection;
  private readonly log: EventLog;
  private readonly writes: GroupWriter<LogWrite, LogWriteResult>;
  private readonly sweepTimer: SweepTimer;
  private readonly retains: boolean;
  private readonly transactional: TransactionalAppender;
  private readonly commits: CommitWatcher;
  private closed = false;

  /**
   * Opens (creating if needed) the database and prepares the statements. Throws
   * `INVALID_ARGUMENT` for bad options, `STORE_UNAVAILABLE` if the file cannot be opened, and
   * `STORE_CORRUPT` if it was written by a newer, unknown schema version.
   *
   * @param connection internal: a connection shared with other stores (`createSqliteStores`).
   */
  constructor(options: SqliteEventStoreOptions, connection?: SqliteConnection) {
    assertOptionsObject(
      options,
      "SqliteEventStore",
      EVENT_STORE_OPTION_KEYS,
      "SqliteEventStoreOptions",
    );
    const clock = resolveClock(options.clock);
    const retention = resolveRetention(options.retention);
    const sweepIntervalMs = resolveSweepInterval(options.sweepIntervalMs);
    this.connection = connection ?? SqliteConnection.open(resolveConnectionOptions(options));
    [this.log, this.commits] = this.connection.attach(
      (db) => [new EventLog(db, clock, retention), new CommitWatcher(db)] as const,
      "preparing the event store",
    );
    this.transactional = new TransactionalAppender(this.connection.db, clock, retention);
    this.capabilities = {
      sharedAcrossInstances: this.connection.persistent,
      persistent: this.connection.persistent,
      retentionByAge: true,
      retentionByLength: true,
    };
    // Writes queued in one turn of the event loop go in one transaction at its end (setImmediate).
    this.writes = new GroupWriter({
      write: (ops) => this.log.writeGroup(ops),
      operation: "append",
      maxItems: MAX_GROUP_ENTRIES,
      maxWeight: MAX_GROUP_ENTRIES,
      weightOf: (op) => (op.kind === "append" ? op.entries.length : 1),
      maxTurns: 0,
    });
    this.retains = retention.maxLength !== undefined || retention.maxAgeMs !== undefined;
    this.sweepTimer = new SweepTimer(this.retains ? sweepIntervalMs : 0, () => this.trimExpired());
  }

  /** Appends entries; resolves once their group transaction has committed. */
  async append(stream: string, entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    this.assertOpen();
    assertStreamName(stream);
    assertAppendEntries(entries);
    // Copy now: the group is written on a later turn, and the caller may reuse its arrays.
    const copy = entries.map(({ id, name, payload }) => {
      const bytes = Buffer.from(payload);
      return id === undefined ? { name, payload: bytes } : { id, name, payload: bytes };
    });
    return (await this.writes.submit({ kind: "append", stream, entries: copy })) as AppendResult[];
  }

  /**
   * Transactional publish: appends events in the transaction the application holds on its own
   * better-sqlite3 connection to this store's file (or on the store's `database`), so the
   * events commit or roll back with the application's own writes. Synchronous; call it inside
   * `db.transaction(…)`. Offsets, epochs, idempotent ids and retention are those of `append`;
   * the data is encoded like `publish` does. After the commit, an Assured server on this store
   * (in this process or another one on the file) emits the events to its subscribers
   * (`watchCommits`); a rolled-back transaction stores and emits nothing.
   *
   * @throws AssuredError `INVALID_ARGUMENT` (no transaction open, another file, bad entries or
   * options), `INVALID_STREAM`, `CODEC_ERROR`, `PAYLOAD_TOO_LARGE`, `STORE_UNAVAILABLE` (e.g.
   * the write lock stayed busy), `STORE_CLOSED`. A failed call leaves the transaction as it was.
   * @example
   * db.transaction(() => {
   *   db.prepare("INSERT INTO orders (id, total) VALUES (?, ?)").run(orderId, total);
   *   store.appendInTransaction(db, `orders:${customerId}`, [{ name: "order:placed", data: { orderId, total } }]);
   * }).immediate();
   */
  appendInTransaction(
    db: Database.Database,
    stream: string,
    entries: readonly TransactionalEntry[],
    options?: AppendInTransactionOptions,
  ): AppendResult[] {
    this.assertOpen();
    const results = this.transactional.append(db, stream, entries, options);
    if (db === this.connection.db) this.commits.nudge();
    return results;
  }

  /**
   * Reports the ranges appended by `appendInTransaction` once committed, by any connection or
   * process on the file: polls `PRAGMA data_version` every 5 ms while a listener exists (an
   * unref'd timer) and reads the commit feed when it changed. Reports start with commits after
   * the call; a range is reported once per listener. Returns the function that stops them.
   */
  watchCommits(listener: (commit: CommittedRange) => void): () => void {
    this.assertOpen();
    if (typeof listener !== "function") {
      throw new AssuredError("INVALID_ARGUMENT", "watchCommits takes a listener function.");
    }
    return this.commits.watch(listener);
  }

  /** Reads the events after `options.after`, oldest first, with the stream's state. */
  async read(stream: string, options: ReadOptions): Promise<ReadResult> {
    this.assertOpen();
    assertStreamName(stream);
    assertReadOptions(options);
    try {
      return this.log.read(stream, options.after, options.limit);
    } catch (error) {
      throw toStoreError(error, "read");
    }
  }

  /** `read` packed for the wire: each payload copied once, into the page (`EventStore.readPacked`). */
  async readPacked(stream: string, options: PackedReadOptions): Promise<PackedPage> {
    this.assertOpen();
    assertStreamName(stream);
    assertReadOptions(options);
    assertPositiveInteger(options.maxBytes, "maxBytes");
    try {
      return this.log.readPacked(stream, options.after, options.limit, options.maxBytes);
    } catch (error) {
      throw toStoreError(error, "read");
    }
  }

  /** The stream's epoch, head and earliest retained offset; writes nothing. */
  async head(stream: string): Promise<StreamHead> {
    this.assertOpen();
    assertStreamName(stream);
    try {
      return this.log.head(stream);
    } catch (error) {
      throw toStoreError(error, "head");
    }
  }

  /** Deletes the stream's events and gives it a new epoch, in order with queued appends. */
  async reset(stream: string): Promise<StreamHead> {
    this.assertOpen();
    assertStreamName(stream);
    return (await this.writes.submit({ kind: "reset", stream })) as StreamHead;
  }

  /**
   * Applies retention to every stream now, deleting what it no longer keeps (the timer does it
   * every `sweepIntervalMs`; appends trim their own stream). Works through the streams in
   * transactions of 500 with a yield between them. Returns how many events it deleted.
   */
  async trimExpired(): Promise<number> {
    this.assertOpen();
    if (!this.retains) return 0;
    let deleted = 0;
    let after = 0;
    do {
      if (this.closed) return deleted;
      try {
        const batch = this.log.trimStreams(after, TRIM_BATCH_STREAMS);
        deleted += batch.deleted;
        after = batch.lastStreamId;
      } catch (error) {
        throw toStoreError(error, "trim");
      }
      if (after !== 0) await new Promise<void>((resolve) => setImmediate(resolve));
    } while (after !== 0);
    return deleted;
  }

  /** Commits queued appends, stops the sweep timer, releases the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sweepTimer.stop();
    this.commits.close();
    // Synchronous writes: everything queued is committed when flush() returns.
    void this.writes.flush();
    this.connection.release();
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new AssuredError("STORE_CLOSED", "this SqliteEventStore was closed; create a new one.");
    }
  }
}
