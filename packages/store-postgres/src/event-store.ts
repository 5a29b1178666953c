import {
  type AppendEntry,
  type AppendResult,
  assertAppendEntries,
  assertReadOptions,
  assertStreamName,
  type EventStore,
  type EventStoreCapabilities,
  type ReadOptions,
  type ReadResult,
  type Retention,
  type StreamHead,
} from "@assured/core";
import { type LogWrite, type LogWriteResult, writeGroup } from "./append-group.js";
import { openConnection, type StoreConnection } from "./connection.js";
import { GroupCommit } from "./group-commit.js";
import { readHead, readPage } from "./log-reads.js";
import {
  EVENT_STORE_OPTION_KEYS,
  type PostgresEventStoreOptions,
  resolveMaxQueuedEntries,
  resolveRetention,
  resolveStoreOptions,
} from "./options.js";
import { ensureSchema } from "./schema.js";
import { type StoreTime, storeTime } from "./server-clock.js";
import { StoreLifecycle } from "./store-lifecycle.js";
import { type Tables, tableNames } from "./tables.js";
import { inTransaction } from "./transaction.js";

/**
 * An `EventStore` on PostgreSQL (`pg`). Appends issued in the same tick — and those that arrive
 * while the previous group is being written — commit in one transaction (group commit). Each
 * append transaction locks its streams' rows, so offsets stay gapless and visible in order with
 * any number of appenders on any number of connections, processes and nodes. Tables are created
 * on first use.
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
  private readonly writes: GroupCommit<LogWrite, LogWriteResult>;

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
    this.tables = tableNames(resolved.schema, resolved.tablePrefix);
    this.connection = openConnection(resolved);
    this.now = storeTime(this.connection.pool, resolved.clock);
    this.lifecycle = new StoreLifecycle(
      () => ensureSchema(this.connection.pool, this.tables),
      this.connection,
      "PostgresEventStore",
    );
    this.writes = new GroupCommit(
      (ops) => this.lifecycle.run("append", () => this.writeGroup(ops), true),
      maxQueued,
      "append",
    );
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
    return (await this.writes.submit(
      { kind: "append", stream, entries: copy },
      copy.length,
    )) as AppendResult[];
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
    return (await this.writes.submit({ kind: "reset", stream }, 1)) as StreamHead;
  }

  /** Commits queued appends, then ends a pool the store created. Idempotent. */
  async close(): Promise<void> {
    await this.lifecycle.close(() => this.writes.flush());
  }

  private async writeGroup(ops: readonly LogWrite[]): Promise<LogWriteResult[]> {
    const now = await this.now();
    return inTransaction(this.connection.pool, (client) =>
      writeGroup(client, this.tables, ops, now, this.retention),
    );
  }
}
