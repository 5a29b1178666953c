import { AssuredError } from "@assured/core";
import {
  type AppendEntry,
  type AppendResult,
  assertAppendEntries,
  assertReadOptions,
  assertStreamName,
  type EventStore,
  type EventStoreCapabilities,
  GroupWriter,
  MAX_APPEND_BATCH,
  type ReadOptions,
  type ReadResult,
  type Retention,
  type StreamHead,
  snapshotEntries,
} from "@assured/core/store";
import type { Db } from "mongodb";
import { type AppendContext, appendBatch } from "./append-batch.js";
import { type EventCollections, prepareEventCollections } from "./collections.js";
import { ensureConnected, openConnection } from "./connection.js";
import { toEventRecord } from "./documents.js";
import { HeadCache } from "./head-cache.js";
import { type LogAccess, pointLogAccess, rangeLogAccess } from "./log-access.js";
import { LogStateReader } from "./log-state.js";
import {
  EVENT_STORE_OPTION_KEYS,
  type MongoEventStoreOptions,
  type ResolvedStoreOptions,
  resolveMaxQueuedEntries,
  resolveRetention,
  resolveStoreOptions,
} from "./options.js";
import {
  electSweeper,
  scheduleSweep,
  sweepExpiredEvents,
  sweepOverLength,
} from "./retention-sweep.js";
import { detectServerProfile, type ServerProfile } from "./server-profile.js";
import { StoreLifecycle } from "./store-lifecycle.js";
import { StreamMeta } from "./stream-meta.js";

/** Reads retried when a concurrent trim or reset removed records between two queries. */
const READ_ATTEMPTS = 3;

/** One `append` call waiting for its stream's next batch. */
interface StreamAppend {
  stream: string;
  entries: readonly AppendEntry[];
}

interface Ready {
  collections: EventCollections;
  profile: ServerProfile;
  reader: { meta: StreamMeta; state: LogStateReader; access: LogAccess };
  appender: AppendContext;
  /** Deletes what retention no longer keeps (the periodic sweep's work). */
  sweep: () => Promise<number>;
  stopSweep: () => void;
}

/**
 * An `EventStore` on MongoDB (driver 6) or a MongoDB-wire server such as FerretDB. Offsets are
 * gapless with prefix visibility across any number of connections and processes, without
 * multi-document transactions: see the package README for the algorithm, the write and read
 * concerns, and what each server supports.
 *
 * @example
 * const store = new MongoEventStore({ connection: client, database: "chat", retention: { maxLength: 10_000 } });
 * const [result] = await store.append("room:1", [{ name: "message", payload: encode({ text: "hi" }) }]);
 */
export class MongoEventStore implements EventStore {
  /** Shared, persistent, and both kinds of retention. */
  readonly capabilities: EventStoreCapabilities = {
    sharedAcrossInstances: true,
    persistent: true,
    retentionByAge: true,
    retentionByLength: true,
  };

  private readonly options: ResolvedStoreOptions;
  private readonly retention: Retention;
  private readonly heads = new HeadCache();
  private readonly lifecycle: StoreLifecycle<Ready>;
  /**
   * Group commit: appends to a stream issued in the same tick, and those that arrive while the
   * stream's previous batch is written, go to the server as one `insertMany`. Streams are
   * written concurrently, one stream's batches one after another (never racing itself for
   * offsets).
   */
  private readonly group: GroupWriter<StreamAppend, AppendResult[], string>;

  /** Validates the options (INVALID_ARGUMENT); connects and creates indexes on first use. */
  constructor(options: MongoEventStoreOptions) {
    this.options = resolveStoreOptions(
      options,
      "MongoEventStore",
      EVENT_STORE_OPTION_KEYS,
      "MongoEventStoreOptions",
    );
    this.retention = resolveRetention(options.retention);
    const maxQueued = resolveMaxQueuedEntries(options.maxQueuedEntries);
    const connection = openConnection(this.options);
    this.lifecycle = new StoreLifecycle(async () => {
      await ensureConnected(connection);
      return this.prepare(connection.db);
    }, connection.ownedClient);
    this.group = new GroupWriter({
      write: (appends, stream) => this.writeBatch(stream, appends),
      operation: "append",
      keyOf: (append) => append.stream,
      maxItems: MAX_APPEND_BATCH,
      maxWeight: MAX_APPEND_BATCH,
      weightOf: (append) => append.entries.length,
      maxTurns: 0,
      afterTurn: queueMicrotask,
      maxWaiting: { weight: maxQueued, option: "maxQueuedEntries" },
    });
  }

  /** Writes one stream's appends as one batch; one result list per append. */
  private async writeBatch(stream: string, appends: StreamAppend[]): Promise<AppendResult[][]> {
    const { appender } = await this.lifecycle.ready();
    const results = await appendBatch(
      appender,
      stream,
      appends.flatMap((append) => append.entries),
    );
    let at = 0;
    return appends.map((append) => {
      at += append.entries.length;
      return results.slice(at - append.entries.length, at);
    });
  }

  private async prepare(db: Db): Promise<Ready> {
    const profile = await detectServerProfile(db, this.options.server);
    const collections = await prepareEventCollections(db, this.options);
    const accessOf = profile.rangeQueries ? rangeLogAccess : pointLogAccess;
    const { clock } = this.options;
    const readAccess = accessOf(collections.read.events);
    const writeAccess = accessOf(collections.write.events);
    const writeMeta = new StreamMeta(collections.write.streams);
    const { maxAgeMs, maxLength } = this.retention;
    // Without TTL indexes age retention needs the sweep; without atomic updates, length too.
    const needsSweep =
      (!collections.ttl && maxAgeMs !== undefined) ||
      (!profile.atomicUpdates && maxLength !== undefined);
    const sweep = () => this.sweepRetention(collections, writeAccess, writeMeta, !collections.ttl);
    const interval = this.options.sweepIntervalMs;
    return {
      collections,
      profile,
      reader: {
        meta: new StreamMeta(collections.read.streams),
        access: readAccess,
        state: new LogStateReader(readAccess, this.heads, this.retention, clock),
      },
      appender: {
        events: collections.write.events,
        meta: writeMeta,
        access: writeAccess,
        state: new LogStateReader(writeAccess, this.heads, this.retention, clock),
        heads: this.heads,
        retention: this.retention,
        clock,
        atomicUpdates: profile.atomicUpdates,
        orderedInsertLimit: profile.orderedInsertLimit,
      },
      sweep,
      stopSweep:
        needsSweep && interval > 0
          ? scheduleSweep(interval, async () => {
              if (await electSweeper(collections.locks, "sweep-events", interval)) await sweep();
            })
          : () => {},
    };
  }

  private async sweepRetention(
    collections: EventCollections,
    access: LogAccess,
    meta: StreamMeta,
    byAge: boolean,
  ): Promise<number> {
    const { maxAgeMs, maxLength } = this.retention;
    let deleted = 0;
    if (byAge && maxAgeMs !== undefined) {
      deleted += await sweepExpiredEvents(
        collections.write.events,
        meta,
        this.options.clock() - maxAgeMs,
      );
    }
    if (maxLength !== undefined) {
      deleted += await sweepOverLength(collections.write.streams, access, meta, maxLength);
    }
    return deleted;
  }

  /** Appends entries (1–10,000) to a stream; resolves once they are durable (G4). */
  async append(stream: string, entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    this.lifecycle.assertOpen();
    assertStreamName(stream);
    assertAppendEntries(entries);
    const snapshot = snapshotEntries(entries);
    return this.lifecycle.run("append", () => {
      // Setup may have been awaited: the store may be closed by now.
      this.lifecycle.assertOpen();
      return this.group.submit({ stream, entries: snapshot });
    });
  }

  /** Reads up to `limit` consecutive records after `after`, with the log's state. */
  async read(stream: string, options: ReadOptions): Promise<ReadResult> {
    this.lifecycle.assertOpen();
    assertStreamName(stream);
    assertReadOptions(options);
    const { after, limit } = options;
    return this.lifecycle.run("read", async ({ reader }) => {
      for (let attempt = 1; ; attempt++) {
        const meta = await reader.meta.load(stream);
        if (meta === null) return { epoch: "", head: 0, earliest: 1, records: [] };
        // Without retention bounds the first offset kept is known before the head (`f + 1`):
        // the page can then be read while the head is found.
        const bounded =
          this.retention.maxLength !== undefined || this.retention.maxAgeMs !== undefined;
        const state = bounded ? await reader.state.state(meta) : undefined;
        const start = Math.max(after + 1, state?.earliest ?? meta.f + 1);
        const newest = state === undefined ? reader.state.head(meta) : Promise.resolve(state.head);
        const docs = await reader.access.readPage(meta.e, start, limit, newest);
        const head = await newest;
        const earliest = state?.earliest ?? (await reader.state.earliest(meta, head));
        const from = Math.max(after + 1, earliest);
        const to = Math.min(head, from + limit - 1);
        // Fewer than expected: a trim or reset ran meanwhile; look again.
        if (docs.length === Math.max(0, to - from + 1) || attempt >= READ_ATTEMPTS) {
          return { epoch: meta.e, head, earliest, records: docs.map(toEventRecord) };
        }
      }
    });
  }

  /** The stream's epoch, head and earliest retained offset; writes nothing. */
  async head(stream: string): Promise<StreamHead> {
    this.lifecycle.assertOpen();
    assertStreamName(stream);
    return this.lifecycle.run("head", async ({ reader }) => {
      const meta = await reader.meta.load(stream);
      if (meta === null) return { epoch: "", head: 0, earliest: 1 };
      const { epoch, head, earliest } = await reader.state.state(meta);
      return { epoch, head, earliest };
    });
  }

  /** Drops the stream's log and starts a new epoch at head 0. */
  async reset(stream: string): Promise<StreamHead> {
    this.lifecycle.assertOpen();
    assertStreamName(stream);
    return this.lifecycle.run("reset", async ({ appender, collections }) => {
      const previous = await appender.meta.load(stream);
      const renewed = await appender.meta.renew(stream);
      this.heads.forget(stream);
      if (previous !== null) {
        await collections.write.events.deleteMany({ s: stream, e: previous.e });
      }
      return { epoch: renewed.e, head: 0, earliest: 1 };
    });
  }

  /**
   * Deletes now what retention no longer keeps — events older than `maxAgeMs` by the store's
   * clock, and on servers without atomic updates events beyond `maxLength` — as the periodic
   * sweep does on servers without TTL indexes. Run it from one process at a time (the periodic
   * sweep elects one). Returns how many events were deleted.
   */
  async sweepExpired(): Promise<number> {
    return this.lifecycle.run("sweepExpired", ({ sweep }) => sweep());
  }

  /** The server's code path ("mongodb" or "ferretdb") and whether it has TTL indexes. */
  async serverSupport(): Promise<{ kind: "mongodb" | "ferretdb"; ttlIndexes: boolean }> {
    return this.lifecycle.run("serverSupport", async ({ profile, collections }) => ({
      kind: profile.kind,
      ttlIndexes: collections.ttl,
    }));
  }

  /**
   * Stops the sweep, fails queued appends with STORE_CLOSED, waits for running operations, and
   * closes the client only if the store created it from a connection string. Idempotent.
   */
  async close(): Promise<void> {
    await this.lifecycle.close(async () => {
      await this.group.abandon(
        new AssuredError("STORE_CLOSED", "the store was closed; create a new instance."),
      );
      const ready = await this.lifecycle.started()?.catch(() => undefined);
      ready?.stopSweep();
      await ready?.reader.access.close();
    });
  }
}
