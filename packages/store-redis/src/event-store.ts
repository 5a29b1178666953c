import { AssuredError } from "@assured/core";
import {
  type AppendEntry,
  type AppendResult,
  assertAppendEntries,
  assertPositiveInteger,
  assertReadOptions,
  assertRetention,
  assertStreamName,
  type Clock,
  describe,
  type EventStore,
  type EventStoreCapabilities,
  GroupWriter,
  MAX_APPEND_BATCH,
  newId,
  type PackedPage,
  type PackedReadOptions,
  type ReadOptions,
  type ReadResult,
  type Retention,
  type ServerClock,
  type StreamHead,
} from "@assured/core/store";
import { RedisHandle, type ScriptCall, toRedisStoreError } from "./connection.js";
import { streamLogKey } from "./keys.js";
import { COMMON_OPTION_KEYS, type RedisStoreOptions, resolveStoreOptions } from "./options.js";
import { decodeRecords, encodeRecord } from "./record-blob.js";
import { packRecordBlobs } from "./record-pack.js";
import {
  APPEND_SCRIPT,
  MAX_TRIM_PER_CALL,
  READ_SCRIPT,
  RESET_SCRIPT,
} from "./scripts/event-log.js";
import { redisServerClock, storeNow } from "./server-clock.js";

/** Options of `RedisEventStore`. */
export interface RedisEventStoreOptions extends RedisStoreOptions {
  /** Retention applied to every stream (default: keep everything). */
  retention?: Retention;
  /** Most entries merged into one server-side append (group commit); default 1,000. */
  maxGroupEntries?: number;
  /**
   * Most entries waiting for Redis at once, queued or in flight (default 100,000); an append
   * beyond it rejects with `LIMIT_EXCEEDED` (backpressure).
   */
  maxPendingEntries?: number;
}

/**
 * What a read makes of the stored events `blobs[start…]`, the page's consecutive offsets from
 * `from` (a record per event for `read`, the wire form for `readPacked`, nothing for `head`).
 */
type PageDecoder<T> = (blobs: readonly (Buffer | null)[], start: number, from: number) => T;

/** One `append` call waiting for its stream's next write, its entries with ids and copied payloads. */
interface StreamAppend {
  stream: string;
  entries: readonly { id: string; name: string; payload: Uint8Array }[];
}

const OPTION_KEYS: readonly string[] = [
  ...COMMON_OPTION_KEYS,
  "retention",
  "maxGroupEntries",
  "maxPendingEntries",
] satisfies (keyof RedisEventStoreOptions)[];

/**
 * The `EventStore` on Redis (ioredis), Redis Cluster ready. Each stream's log is one hash at
 * `<keyPrefix>log:{<base64url(stream)>}`; every append is one Lua script (id dedup, offsets,
 * write and retention in one atomic step), so any number of processes may append to a stream.
 *
 * @example
 * const store = new RedisEventStore({ redis: "redis://127.0.0.1:6379", retention: { maxLength: 10_000 } });
 * const [result] = await store.append("room:1", [{ name: "message", payload: encode("hi") }]);
 * const page = await store.read("room:1", { after: 0, limit: 100 });
 */
export class RedisEventStore implements EventStore {
  /** Shared by every process on the same Redis; as persistent as the server's own settings. */
  readonly capabilities: EventStoreCapabilities = {
    sharedAcrossInstances: true,
    persistent: true,
    retentionByAge: true,
    retentionByLength: true,
  };
  /** The prefix of every key this store writes. */
  readonly keyPrefix: string;

  private readonly handle: RedisHandle;
  private readonly clock: Clock;
  /** Without an injected `clock`: append times and age retention follow the server's clock. */
  private readonly serverClock: ServerClock | undefined;
  private readonly retention: Retention;
  /**
   * Group commit: `append` calls issued in the same tick are merged per stream into one script
   * call once the tick's synchronous code is done (calls that arrive while a stream's group is
   * written go in its next); the streams' calls are sent back to back on the connection
   * (pipelined). A call's entries are never split, so its offsets stay consecutive.
   */
  private readonly groups: GroupWriter<StreamAppend, AppendResult[], string>;
  private readonly appendScript: ScriptCall;
  private readonly readScript: ScriptCall;
  private readonly resetScript: ScriptCall;
  private closed = false;

  constructor(options: RedisEventStoreOptions) {
    const common = resolveStoreOptions(
      options,
      "RedisEventStore",
      OPTION_KEYS,
      "RedisEventStoreOptions",
    );
    const retention = options.retention ?? {};
    assertRetention(retention);
    const maxGroupEntries = options.maxGroupEntries ?? 1_000;
    assertIntegerIn(maxGroupEntries, "maxGroupEntries", 1, MAX_APPEND_BATCH);
    const maxPendingEntries = options.maxPendingEntries ?? 100_000;
    assertIntegerIn(maxPendingEntries, "maxPendingEntries", MAX_APPEND_BATCH, 10_000_000);
    this.keyPrefix = common.keyPrefix;
    this.clock = common.clock;
    this.retention = { ...retention };
    this.handle = new RedisHandle(common.redis);
    const client = this.handle.client;
    this.serverClock = options.clock === undefined ? redisServerClock(client) : undefined;
    this.appendScript = this.handle.defineScript("log_append_v1", APPEND_SCRIPT);
    this.readScript = this.handle.defineScript("log_read_v1", READ_SCRIPT);
    this.resetScript = this.handle.defineScript("log_reset_v1", RESET_SCRIPT);
    this.groups = new GroupWriter({
      write: (appends, stream) => this.writeGroup(stream, appends),
      operation: "redis append",
      keyOf: (append) => append.stream,
      maxItems: maxGroupEntries,
      maxWeight: maxGroupEntries,
      weightOf: (append) => append.entries.length,
      maxTurns: 0,
      afterTurn: queueMicrotask,
      maxWaiting: { weight: maxPendingEntries, option: "maxPendingEntries" },
    });
  }

  /** Appends entries (1–10,000) in one atomic step; resolves once Redis has applied them. */
  async append(stream: string, entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    this.assertOpen();
    assertStreamName(stream);
    assertAppendEntries(entries);
    return this.groups.submit({ stream, entries: entries.map(withId) });
  }

  /** Reads up to `limit` events after `after`, with the log's state, in one atomic step. */
  async read(stream: string, options: ReadOptions): Promise<ReadResult> {
    this.assertOpen();
    assertStreamName(stream);
    assertReadOptions(options);
    return this.readLog(stream, options.after, options.limit, (blobs, start, from) => ({
      records: decodeRecords(blobs, start, stream, from),
    }));
  }

  /**
   * `read` packed for the wire (`EventStore.readPacked`), cut after `maxBytes` of payloads: the
   * same atomic step, no record objects, each payload copied once, into the page.
   */
  async readPacked(stream: string, options: PackedReadOptions): Promise<PackedPage> {
    this.assertOpen();
    assertStreamName(stream);
    assertReadOptions(options);
    assertPositiveInteger(options.maxBytes, "maxBytes");
    const { maxBytes } = options;
    return this.readLog(stream, options.after, options.limit, (blobs, start, from) =>
      packRecordBlobs(blobs, start, from, maxBytes),
    );
  }

  /** The stream's epoch, head and earliest offset; `{ epoch: "", head: 0, earliest: 1 }` if it has no log. */
  async head(stream: string): Promise<StreamHead> {
    this.assertOpen();
    assertStreamName(stream);
    return this.readLog(stream, 0, 0, () => ({}));
  }

  /** Drops the stream's log and starts a new epoch at head 0. */
  async reset(stream: string): Promise<StreamHead> {
    this.assertOpen();
    assertStreamName(stream);
    await this.groups.flush();
    try {
      const epoch = newId();
      await this.resetScript(streamLogKey(this.keyPrefix, stream), epoch);
      return { epoch, head: 0, earliest: 1 };
    } catch (error) {
      throw toRedisStoreError(error, "redis reset");
    }
  }

  /** Writes pending appends, then quits the client if the store created it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.groups.flush();
    await this.handle.close();
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new AssuredError("STORE_CLOSED", "the Redis event store is closed; create a new one.");
    }
  }

  /** Writes one stream's calls in one script call; one result list per call. */
  private async writeGroup(stream: string, group: StreamAppend[]): Promise<AppendResult[][]> {
    const now = await storeNow(this.serverClock, this.clock, "redis append");
    const args: (string | Buffer | number)[] = [
      now,
      newId(),
      this.retention.maxLength ?? 0,
      this.retention.maxAgeMs ?? 0,
      MAX_TRIM_PER_CALL,
    ];
    for (const call of group) {
      for (const entry of call.entries) {
        args.push(entry.id, encodeRecord({ ...entry, time: now }));
      }
    }
    let reply: unknown;
    try {
      reply = await this.appendScript(streamLogKey(this.keyPrefix, stream), ...args);
    } catch (error) {
      throw toRedisStoreError(error, "redis append");
    }
    const values = reply as [Buffer, ...number[]];
    const epoch = values[0].toString();
    let at = 1;
    return group.map((call) =>
      call.entries.map((entry) => {
        const offset = values[at++] as number;
        return { offset: Math.abs(offset), id: entry.id, duplicate: offset < 0, epoch };
      }),
    );
  }

  /**
   * Reads the log's state and the events after `after` (at most `limit`) in one atomic step,
   * and `decode`s them; a decoding error is the read's, wrapped like a Redis failure.
   */
  private async readLog<T>(
    stream: string,
    after: number,
    limit: number,
    decode: PageDecoder<T>,
  ): Promise<StreamHead & T> {
    const key = streamLogKey(this.keyPrefix, stream);
    try {
      if (this.retention.maxAgeMs === undefined) {
        // One HMGET is atomic too: the state and the page come from the same moment.
        const page = await this.readPage(key, after, limit, decode);
        if (page) return page;
      }
      // Age retention trims on read, and a reader behind `earliest` needs the page to start
      // there: both take the read script.
      const now = await storeNow(this.serverClock, this.clock, "redis read");
      const reply = (await this.readScript(
        key,
        after,
        limit,
        now,
        this.retention.maxAgeMs ?? 0,
        MAX_TRIM_PER_CALL,
      )) as Buffer[];
      if (reply.length === 0) return { epoch: "", head: 0, earliest: 1, ...decode([], 0, 1) };
      const earliest = Number(reply[2]);
      return {
        epoch: String(reply[0]),
        head: Number(reply[1]),
        earliest,
        ...decode(reply, 3, Math.max(after + 1, earliest)),
      };
    } catch (error) {
      throw toRedisStoreError(error, "redis read");
    }
  }

  /** Reads state and page with one HMGET; undefined when a page must start at `earliest`. */
  private async readPage<T>(
    key: string,
    after: number,
    limit: number,
    decode: PageDecoder<T>,
  ): Promise<(StreamHead & T) | undefined> {
    const fields = ["epoch", "head", "earliest"];
    for (let offset = after + 1; offset <= after + limit; offset++) fields.push(String(offset));
    const reply = (await this.handle.client.hmgetBuffer(key, ...fields)) as (Buffer | null)[];
    if (reply[0] === null) return { epoch: "", head: 0, earliest: 1, ...decode([], 0, 1) };
    const head = Number(String(reply[1]));
    const earliest = Number(String(reply[2]));
    const from = Math.max(after + 1, earliest);
    // Behind `earliest` with events retained: the page must start at earliest, which this
    // HMGET did not fetch in full.
    if (limit > 0 && from > after + 1 && from <= head) return undefined;
    const last = Math.min(head, after + limit);
    const blobs = from <= last ? reply.slice(3 + from - after - 1, 3 + last - after) : [];
    return { epoch: String(reply[0]), head, earliest, ...decode(blobs, 0, from) };
  }
}

function assertIntegerIn(value: unknown, what: string, min: number, max: number): void {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `${what} must be an integer from ${min} to ${max}, got ${describe(value)}.`,
    );
  }
}

/**
 * The entry with its id (the publisher's, or a new one) and a copy of its payload: the write
 * happens at the end of the tick, and a caller may reuse its buffer as soon as `append` returns.
 */
function withId(entry: AppendEntry): StreamAppend["entries"][number] {
  return { id: entry.id ?? newId(), name: entry.name, payload: entry.payload.slice() };
}
