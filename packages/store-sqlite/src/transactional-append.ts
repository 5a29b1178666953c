import { realpathSync } from "node:fs";
import { AssuredError } from "@assured/core";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "@assured/core/protocol";
import {
  type AppendResult,
  assertKnownOptions,
  assertPositiveInteger,
  assertStreamName,
  type Clock,
  describe,
  encodeTransactionalEntries,
  type Retention,
  toStoreError,
} from "@assured/core/store";
import type Database from "better-sqlite3";
import { EventLog } from "./event-log.js";

/** Options of `appendInTransaction`. */
export interface AppendInTransactionOptions {
  /**
   * Largest encoded payload accepted, in bytes (default 512 KiB, the server's default
   * `limits.maxPayloadBytes`); set it to the server's limit if you changed that.
   */
  maxPayloadBytes?: number;
}

/** How long a row of the commit feed is kept for watchers (`watchCommits`), in ms. */
export const COMMIT_FEED_RETENTION_MS = 60_000;

const OPTION_KEYS: readonly string[] = [
  "maxPayloadBytes",
] satisfies (keyof AppendInTransactionOptions)[];

function invalid(message: string): AssuredError {
  return new AssuredError("INVALID_ARGUMENT", message);
}

/** The event log's statements prepared on one application connection, and the feed's. */
class ConnectionLog {
  readonly append: (stream: string, entries: EncodedEntry[], now: number) => AppendResult[];

  constructor(db: Database.Database, clock: Clock, retention: Retention) {
    const log = new EventLog(db, clock, retention);
    const insertCommit = db.prepare<[string, string, number, number, number]>(
      "INSERT INTO assured_commits (stream_name, epoch, first_offset, last_offset, committed_at) " +
        "VALUES (?, ?, ?, ?, ?)",
    );
    const trimCommits = db.prepare<[number]>("DELETE FROM assured_commits WHERE committed_at < ?");
    // Called inside the application's transaction, better-sqlite3 makes this a savepoint: a
    // failure undoes this call's writes only, whatever the application then does.
    this.append = db.transaction((stream: string, entries: EncodedEntry[], now: number) => {
      const results = log.applyWrites([{ kind: "append", stream, entries }])[0] as AppendResult[];
      const fresh = results.filter((r) => !r.duplicate);
      if (fresh.length > 0) {
        insertCommit.run(stream, fresh[0]!.epoch, fresh[0]!.offset, fresh.at(-1)!.offset, now);
      }
      trimCommits.run(now - COMMIT_FEED_RETENTION_MS);
      return results;
    });
  }
}

interface EncodedEntry {
  id?: string;
  name: string;
  payload: Uint8Array;
}

/** The path of a connection's main database file; "" for an in-memory or temporary one. */
function mainFile(db: Database.Database): string {
  const list = db.pragma("database_list") as { name: string; file: string }[];
  const file = list.find((d) => d.name === "main")?.file ?? "";
  if (file === "") return "";
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/**
 * Transactional publish on SQLite: appends events with the statements of the event log, in the
 * transaction the application holds on its own connection to the store's file, and records the
 * appended range in the commit feed (`assured_commits`) in the same transaction, for
 * `watchCommits`. Offsets, epochs, idempotency and retention are those of `append`.
 */
export class TransactionalAppender {
  readonly #logs = new WeakMap<Database.Database, ConnectionLog>();
  readonly #own: Database.Database;
  readonly #clock: Clock;
  readonly #retention: Retention;
  #ownFile: string | undefined;

  constructor(own: Database.Database, clock: Clock, retention: Retention) {
    this.#own = own;
    this.#clock = clock;
    this.#retention = retention;
  }

  /** Validates, encodes and appends; see `SqliteEventStore.appendInTransaction`. */
  append(db: unknown, stream: unknown, entries: unknown, options: unknown): AppendResult[] {
    const connection = assertConnection(db);
    assertStreamName(stream);
    const maxPayloadBytes = resolveMaxPayloadBytes(options);
    const encoded = encodeTransactionalEntries(entries, maxPayloadBytes);
    const log = this.#logOf(connection);
    try {
      return log.append(stream, encoded, this.#clock());
    } catch (error) {
      throw toStoreError(error, "appendInTransaction");
    }
  }

  #logOf(db: Database.Database): ConnectionLog {
    const known = this.#logs.get(db);
    if (known !== undefined) return known;
    if (db !== this.#own) {
      this.#ownFile ??= mainFile(this.#own);
      const file = mainFile(db);
      if (this.#ownFile === "" || file !== this.#ownFile) {
        throw invalid(
          `appendInTransaction got a connection to ${describe(file || db.name)}, not to the store's database ${describe(this.#ownFile || this.#own.name)}: open it on the store's file.`,
        );
      }
    }
    let log: ConnectionLog;
    try {
      log = new ConnectionLog(db, this.#clock, this.#retention);
    } catch (error) {
      throw toStoreError(error, "preparing appendInTransaction");
    }
    this.#logs.set(db, log);
    return log;
  }
}

function assertConnection(db: unknown): Database.Database {
  const candidate = db as Partial<Database.Database> | null;
  if (
    typeof candidate !== "object" ||
    candidate === null ||
    typeof candidate.prepare !== "function" ||
    typeof candidate.inTransaction !== "boolean"
  ) {
    throw invalid(
      `appendInTransaction takes the application's better-sqlite3 Database first, got ${describe(db)}.`,
    );
  }
  const connection = candidate as Database.Database;
  if (!connection.open) throw invalid("appendInTransaction got a closed database.");
  if (connection.readonly) throw invalid("appendInTransaction got a read-only database.");
  if (!connection.inTransaction) {
    throw invalid(
      "appendInTransaction must run inside the application's transaction: wrap it in db.transaction(() => { … })() with your own writes, so both commit or roll back together.",
    );
  }
  return connection;
}

function resolveMaxPayloadBytes(options: unknown): number {
  if (options === undefined) return DEFAULT_MAX_PAYLOAD_BYTES;
  assertKnownOptions(options, OPTION_KEYS, "appendInTransaction", "AppendInTransactionOptions");
  const { maxPayloadBytes } = options as AppendInTransactionOptions;
  if (maxPayloadBytes === undefined) return DEFAULT_MAX_PAYLOAD_BYTES;
  assertPositiveInteger(maxPayloadBytes, "maxPayloadBytes");
  return maxPayloadBytes;
}
