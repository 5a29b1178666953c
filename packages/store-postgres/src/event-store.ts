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
  encodeTransactionalEntries,
  GroupWriter,
  MAX_APPEND_BATCH,
  type PackedPage,
  type PackedReadOptions,
  type ReadOptions,
  type ReadResult,
  type Retention,
  type StreamHead,
  type TransactionalEntry,
} from "@assured/core/store";
import type { ClientBase } from "pg";
import { type LogWrite, type LogWriteResult, writeGroup } from "./append-group.js";
import { appendInOneStatement, fitsOneStatement } from "./append-statement.js";
import { commitChannel, commitPayload } from "./commit-channel.js";
import { type CommitListener, CommitWatcher } from "./commit-watcher.js";
import { openConnection, type StoreConnection } from "./connection.js";
import { listenClientFactory } from "./listen-client.js";
import { readHead, readPage } from "./log-reads.js";
import {
  EVENT_STORE_OPTION_KEYS,
  type PostgresEventStoreOptions,
  resolveMaxPayloadBytes,
  resolveMaxQueuedEntries,
  resolveRetention,
  resolveStoreOptions,
} from "./options.js";
import { readPackedPage } from "./packed-reads.js";
import { ensureSchema } from "./schema.js";
import { type StoreTime, storeTime } from "./server-clock.js";
import { StoreLifecycle } from "./store-lifecycle.js";
import { type Tables, tableNames } from "./tables.js";
import { inTransaction } from "./transaction.js";
import {
  assertInTransaction,
  FAILED_TRANSACTION,
  failedTransactionError,
} from "./transactional-entries.js";

/**
 * An `EventStore` on PostgreSQL (`pg`). Appends issued in the same tick — and those that arrive
 * while the previous group is being written — commit in one transaction (group commit). Each
 * append transaction locks its streams' rows, so offsets stay gapless and visible in order with
 * any number of appenders on any number of connections, processes and nodes. Tables are created
 * on first use. `appendInTransaction` appends inside a transaction of yours (transactional
 * publish) and `watchCommits` reports those commits, from every process, through LISTEN/NOTIFY.
 *
 * @example
 * const store = new PostgresEventStore({ connection: "postgres://app@db/app", retention: { maxLength: 10_000 } });
 * const [{ offset, epoch }] = await store.append("room:1", [{ name: "msg", payload: encode("hi") }]);
 * const { records } = await store.read("room:1", { after: 0, limit: 100 });
 * await store.close();
 */
export class PostgresEventStore implements EventStore {
  /** Shared, persistent, retention by length and by age. */
  readonly capabilities: EventStoreCapabilities = {
    sharedAcrossInstances: true,
    persistent: true,
    retentionByAge: true,
    retentionByLength: true,
  };
  private readonly connection: StoreConnection;
  private readonly tables: Tables;
  private readonly retention: Retention;
  private readonly now: StoreTime;
  private readonly lifecycle: StoreLifecycle;
  private readonly writes: GroupWriter<LogWrite, LogWriteResult>;
  private readonly maxPayloadBytes: number;
  private readonly watcher: CommitWatcher;
  /**
   * The `NOTIFY` channel of this schema and table prefix (`assured_commits_` and 16 hex
   * digits): stores on other tables of the same database use another one.
   */
  readonly commitChannel: string;

  /** Validates the options (`INVALID_ARGUMENT`); connects lazily, on the first call. */
  constructor(options: PostgresEventStoreOptions) {
    const resolved = resolveStoreOptions(
      options,
      "PostgresEventStore",
      EVENT_STORE_OPTION_KEYS,
      "PostgresEventStoreOptions",
    );
    this.retention = resolveRetention(options.retention);
    const maxQueued = resolveMaxQueuedEntries(options.maxQueuedEntries);
    this.maxPayloadBytes = resolveMaxPayloadBytes(options.maxPayloadBytes);
    this.tables = tableNames(resolved.schema, resolved.tablePrefix, resolved.preparedStatements);
    this.commitChannel = commitChannel(this.tables);
    this.connection = openConnection(resolved);
    this.watcher = new CommitWatcher(
      listenClientFactory(resolved, this.connection, this.commitChannel),
      this.commitChannel,
      this.tables,
    );
    this.now = storeTime(this.connection.pool, resolved.clock);
    this.lifecycle = new StoreLifecycle(
      () => ensureSchema(this.connection.pool, this.tables),
      this.connection,
      "PostgresEventStore",
    );
    // Writes queued in one tick go in one transaction once its synchronous code is done, and
    // those that arrive while it is written in the next: one group in flight, so an instance
    // never races itself for a stream's row lock.
    this.writes = new GroupWriter({
      write: (ops) => this.lifecycle.run("append", () => this.writeGroup(ops), true),
      operation: "append",
      maxItems: MAX_APPEND_BATCH,
      maxWeight: MAX_APPEND_BATCH,
      weightOf: (op) => (op.kind === "append" ? op.entries.length : 1),
      maxTurns: 0,
      afterTurn: queueMicrotask,
      maxWaiting: { weight: maxQueued, option: "maxQueuedEntries" },
    });
  }

  /** Appends entries; resolves once their group's transaction has committed. */
  async append(stream: string, entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    this.lifecycle.assertOpen();
    assertStreamName(stream);
    assertAppendEntries(entries);
    // Copy now: the group is written later, and the caller may reuse its arrays and buffers.
    const copy = entries.map(({ id, name, payload }) => {
      const bytes = Uint8Array.from(payload);
      return id === undefined ? { name, payload: bytes } : { id, name, payload: bytes };
    });
    return (await this.writes.submit({ kind: "append", stream, entries: copy })) as AppendResult[];
  }

  /**
   * Appends events inside a transaction of yours (transactional publish): `client` is the `pg`
   * client on which you ran `BEGIN`. The events commit or roll back with your own writes; on
   * commit, PostgreSQL notifies every `watchCommits` listener (every Assured server on these
   * tables), which emits them to subscribers. Offsets, epochs, idempotent ids and retention are
   * those of `append`. The call locks the stream's row until your transaction ends: appends
   * to that stream, from anywhere, wait for your `COMMIT`, so keep the transaction short.
   *
   * @throws AssuredError `INVALID_ARGUMENT` (a client outside a transaction, bad entries),
   * `INVALID_STREAM`, `CODEC_ERROR`, `PAYLOAD_TOO_LARGE`, `STORE_UNAVAILABLE` (a failed
   * statement: your transaction is then aborted, ROLLBACK it), `STORE_CLOSED`.
   * @example
   * await client.query("BEGIN");
   * await client.query("INSERT INTO orders (id, total) VALUES ($1, $2)", [order.id, order.total]);
   * await store.appendInTransaction(client, `orders:${order.customer}`, [
   *   { name: "order:placed", data: order, id: `order-${order.id}` },
   * ]);
   * await client.query("COMMIT");
   */
  async appendInTransaction(
    client: ClientBase,
    stream: string,
    entries: readonly TransactionalEntry[],
  ): Promise<AppendResult[]> {
    this.lifecycle.assertOpen();
    assertStreamName(stream);
    assertInTransaction(client);
    const encoded = encodeTransactionalEntries(entries, this.maxPayloadBytes);
    return this.lifecycle.run("appendInTransaction", () =>
      this.appendOnClient(client, stream, encoded).catch((error: unknown) => {
        // The client's state is read without a round trip, from the last answer it processed:
        // a statement that failed just before may not have updated it yet.
        if ((error as { code?: unknown } | null)?.code === FAILED_TRANSACTION) {
          throw failedTransactionError();
        }
        throw error;
      }),
    );
  }

  /** The writes of `appendInTransaction` on the application's client, and its notification. */
  private async appendOnClient(
    client: ClientBase,
    stream: string,
    encoded: AppendEntry[],
  ): Promise<AppendResult[]> {
    {
      const now = await this.now();
      const write: LogWrite = { kind: "append", stream, entries: encoded };
      const [results] = (await writeGroup(client, this.tables, [write], now, this.retention)) as [
        AppendResult[],
      ];
      const fresh = results.filter((result) => !result.duplicate);
      if (fresh.length > 0) {
        const range: CommittedRange = {
          stream,
          epoch: fresh[0]!.epoch,
          first: fresh[0]!.offset,
          last: fresh[fresh.length - 1]!.offset,
        };
        // Delivered by PostgreSQL on COMMIT only, in commit order; dropped on ROLLBACK.
        await client.query(
          this.tables.sql.query("SELECT pg_notify($1, $2)", [
            this.commitChannel,
            commitPayload(range),
          ]),
        );
      }
      return results;
    }
  }

  /**
   * Calls `listener` after each commit of `appendInTransaction`, by any process on these
   * tables, with the committed range (per stream in commit order, which is offset order). One
   * dedicated connection listens while listeners remain (not one of the pool's); it is
   * replaced after a loss, with backoff, and on reconnecting reports what the streams it
   * reported before gained meanwhile. Returns the function that removes `listener`.
   *
   * @example const stop = store.watchCommits(({ stream, first, last }) => console.log(stream, first, last));
   */
  watchCommits(listener: (commit: CommittedRange) => void): () => void {
    this.lifecycle.assertOpen();
    if (typeof listener !== "function") {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        "watchCommits needs a listener function (commit: CommittedRange) => void.",
      );
    }
    return this.watcher.add(listener as CommitListener);
  }

  /**
   * Resolves once the `watchCommits` connection listens: a commit after that is reported.
   * Resolves at once when nothing is watched; waits through a reconnect.
   */
  watchingCommits(): Promise<void> {
    return this.watcher.ready();
  }

  /** Reads the events after `options.after`, oldest first, with the stream's state. */
  async read(stream: string, options: ReadOptions): Promise<ReadResult> {
    this.lifecycle.assertOpen();
    assertStreamName(stream);
    assertReadOptions(options);
    return this.lifecycle.run("read", async () =>
      readPage(
        this.connection.pool,
        this.tables,
        stream,
        options.after,
        options.limit,
        await this.now(),
        this.retention,
      ),
    );
  }

  /**
   * `read`'s page packed for the wire, cut after `options.maxBytes` of payloads (the first
   * record always): one statement, each payload copied once, into a buffer of the caller's own.
   */
  async readPacked(stream: string, options: PackedReadOptions): Promise<PackedPage> {
    this.lifecycle.assertOpen();
    assertStreamName(stream);
    assertReadOptions(options);
    assertPositiveInteger(options.maxBytes, "maxBytes");
    return this.lifecycle.run("readPacked", async () =>
      readPackedPage(
        this.connection.pool,
        this.tables,
        stream,
        options.after,
        options.limit,
        options.maxBytes,
        await this.now(),
        this.retention,
      ),
    );
  }

  /** The stream's epoch, head and earliest retained offset; writes nothing. */
  async head(stream: string): Promise<StreamHead> {
    this.lifecycle.assertOpen();
    assertStreamName(stream);
    return this.lifecycle.run("head", async () =>
      readHead(this.connection.pool, this.tables, stream, await this.now(), this.retention),
    );
  }

  /** Deletes the stream's events and gives it a new epoch, in order with queued appends. */
  async reset(stream: string): Promise<StreamHead> {
    this.lifecycle.assertOpen();
    assertStreamName(stream);
    return (await this.writes.submit({ kind: "reset", stream })) as StreamHead;
  }

  /** Commits queued appends, then ends a pool the store created. Idempotent. */
  async close(): Promise<void> {
    this.watcher.close();
    await this.lifecycle.close(() => this.writes.flush());
  }

  private async writeGroup(ops: readonly LogWrite[]): Promise<LogWriteResult[]> {
    const now = await this.now();
    // The usual group (appends without ids, no retention): one statement, one round trip.
    if (fitsOneStatement(ops, this.retention)) {
      return appendInOneStatement(this.connection.pool, this.tables, ops, now);
    }
    return inTransaction(this.connection.pool, (client) =>
      writeGroup(client, this.tables, ops, now, this.retention),
    );
  }
}
