import { AssuredError } from "@assured/core";
import {
  assertKnownOptions,
  type Clock,
  describe,
  type Retention,
  systemClock,
} from "@assured/core/store";
import type { Db, MongoClient, MongoClientOptions, ReadConcernLevel } from "mongodb";

/** Which server-specific code paths to use; `"auto"` asks the server (`buildInfo`). */
export type MongoServerKind = "auto" | "mongodb" | "ferretdb";

/** The write concern every write uses. The default, `{ w: "majority", j: true }`, gives G4. */
export interface MongoWriteConcern {
  w?: number | "majority";
  j?: boolean;
  wtimeoutMS?: number;
}

/** Options shared by `MongoEventStore` and `MongoDedupStore`. */
export interface MongoStoreOptions {
  /**
   * Where the data lives: a connected or unconnected `MongoClient`, a `Db`, or a connection
   * string. Only a client the store created from a string is closed by `close()`.
   */
  connection: MongoClient | Db | string;
  /** Database name, when `connection` is a client or a string. Default: the URL's, else "assured". */
  database?: string;
  /** Prefix of the store's collection names: letters, digits and `_`, 1–40 chars. Default "assured_". */
  collectionPrefix?: string;
  /** Clock for append times, age retention, leases and TTLs. Default: the wall clock. */
  clock?: Clock;
  /** Force the MongoDB or the FerretDB code paths instead of detecting the server. Default "auto". */
  server?: MongoServerKind;
  /** Write concern of every write. Default `{ w: "majority", j: true }`. */
  writeConcern?: MongoWriteConcern;
  /** Read concern of reads. Default "majority". */
  readConcern?: Extract<ReadConcernLevel, "local" | "majority" | "linearizable">;
  /**
   * How often (ms) the store deletes expired data itself when the server has no TTL indexes.
   * Default 60,000; 0 turns the sweep off (expired data is still hidden from every read).
   */
  sweepIntervalMs?: number;
  /** Options for the client the store creates from a connection string. */
  clientOptions?: MongoClientOptions;
}

/** Options of `MongoEventStore`. */
export interface MongoEventStoreOptions extends MongoStoreOptions {
  /** Retention of every stream's log. Default: keep everything. */
  retention?: Retention;
  /** Most entries waiting for group commit per store before `append` fails with LIMIT_EXCEEDED. Default 100,000. */
  maxQueuedEntries?: number;
}

/** Options of `MongoDedupStore`. */
export interface MongoDedupStoreOptions extends MongoStoreOptions {
  /**
   * Most dedup documents, all owners together (leased or done; expired ones are deleted first
   * when it is reached). A claim of a new key beyond it is `LIMIT_EXCEEDED` (retryable); keys
   * that hold an entry still answer. Default 1,000,000 (about 350 MB before compression with
   * small responses; see the README's sizing). Checked with `estimatedDocumentCount` (cached
   * up to a second below half the bound), so claims racing near it may pass it by their number.
   */
  maxEntries?: number;
}

/** Default `maxEntries` of `MongoDedupStore`. */
export const DEFAULT_MONGO_MAX_DEDUP_ENTRIES = 1_000_000;

const COMMON_OPTION_KEYS = [
  "connection",
  "database",
  "collectionPrefix",
  "clock",
  "server",
  "writeConcern",
  "readConcern",
  "sweepIntervalMs",
  "clientOptions",
] as const satisfies readonly (keyof MongoStoreOptions)[];

/** The option names of `MongoEventStore`; any other is refused. */
export const EVENT_STORE_OPTION_KEYS: readonly string[] = [
  ...COMMON_OPTION_KEYS,
  "retention",
  "maxQueuedEntries",
] satisfies (keyof MongoEventStoreOptions)[];

/** The option names of `MongoDedupStore`; any other is refused. */
export const DEDUP_STORE_OPTION_KEYS: readonly string[] = [
  ...COMMON_OPTION_KEYS,
  "maxEntries",
] satisfies (keyof MongoDedupStoreOptions)[];

const WRITE_CONCERN_KEYS: readonly string[] = [
  "w",
  "j",
  "wtimeoutMS",
] satisfies (keyof MongoWriteConcern)[];

const RETENTION_KEYS: readonly string[] = ["maxLength", "maxAgeMs"] satisfies (keyof Retention)[];

/** Options after validation, with defaults filled in. */
export interface ResolvedStoreOptions {
  connection: MongoClient | Db | string;
  database: string | undefined;
  collectionPrefix: string;
  clock: Clock;
  server: MongoServerKind;
  writeConcern: MongoWriteConcern;
  readConcern: "local" | "majority" | "linearizable";
  sweepIntervalMs: number;
  clientOptions: MongoClientOptions | undefined;
}

const PREFIX = /^[A-Za-z0-9_]{1,40}$/;
const DATABASE = /^[^/\\. "$*<>:|?]{1,63}$/;

function invalid(message: string): AssuredError {
  return new AssuredError("INVALID_ARGUMENT", message);
}

function isConnectionLike(value: unknown): boolean {
  if (typeof value === "string")
    return value.startsWith("mongodb://") || value.startsWith("mongodb+srv://");
  if (typeof value !== "object" || value === null) return false;
  const v = value as { db?: unknown; collection?: unknown };
  return typeof v.db === "function" || typeof v.collection === "function";
}

function nonNegativeInteger(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${what} must be a non-negative integer, got ${describe(value)}.`);
  }
  return value;
}

function positiveInteger(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(`${what} must be a positive integer, got ${describe(value)}.`);
  }
  return value;
}

function resolveWriteConcern(value: unknown): MongoWriteConcern {
  if (value === undefined) return { w: "majority", j: true };
  if (typeof value !== "object" || value === null) {
    throw invalid(`writeConcern must be { w?, j?, wtimeoutMS? }, got ${describe(value)}.`);
  }
  assertKnownOptions(value, WRITE_CONCERN_KEYS, "writeConcern", "MongoWriteConcern");
  const wc = value as Record<string, unknown>;
  if (wc.w !== undefined && wc.w !== "majority") nonNegativeInteger(wc.w, "writeConcern.w");
  if (wc.j !== undefined && typeof wc.j !== "boolean") {
    throw invalid(`writeConcern.j must be a boolean, got ${describe(wc.j)}.`);
  }
  if (wc.wtimeoutMS !== undefined) nonNegativeInteger(wc.wtimeoutMS, "writeConcern.wtimeoutMS");
  return { ...(value as MongoWriteConcern) };
}

/**
 * Validates the shared options and fills in defaults; throws `INVALID_ARGUMENT`, also for a key
 * not in `known` (the option names of `typeName`). `clientOptions` are the driver's own and are
 * not checked here.
 */
export function resolveStoreOptions(
  options: unknown,
  what: string,
  known: readonly string[],
  typeName: string,
): ResolvedStoreOptions {
  if (typeof options !== "object" || options === null) {
    throw invalid(`options must be an object with a connection, got ${describe(options)}.`);
  }
  assertKnownOptions(options, known, what, typeName);
  const o = options as Record<string, unknown>;
  if (!isConnectionLike(o.connection)) {
    throw invalid(
      `connection must be a MongoClient, a Db or a "mongodb://" URL, got ${describe(o.connection)}.`,
    );
  }
  if (
    o.database !== undefined &&
    (typeof o.database !== "string" || !DATABASE.test(o.database) || o.database.includes("\0"))
  ) {
    throw invalid(`database must be a valid MongoDB database name, got ${describe(o.database)}.`);
  }
  const prefix = o.collectionPrefix ?? "assured_";
  if (typeof prefix !== "string" || !PREFIX.test(prefix)) {
    throw invalid(
      `collectionPrefix must be 1–40 letters, digits or underscores, got ${describe(prefix)}.`,
    );
  }
  const clock = o.clock ?? systemClock;
  if (typeof clock !== "function")
    throw invalid(`clock must be a function, got ${describe(clock)}.`);
  const server = o.server ?? "auto";
  if (server !== "auto" && server !== "mongodb" && server !== "ferretdb") {
    throw invalid(`server must be "auto", "mongodb" or "ferretdb", got ${describe(server)}.`);
  }
  const readConcern = o.readConcern ?? "majority";
  if (readConcern !== "local" && readConcern !== "majority" && readConcern !== "linearizable") {
    throw invalid(
      `readConcern must be "local", "majority" or "linearizable", got ${describe(readConcern)}.`,
    );
  }
  if (
    o.clientOptions !== undefined &&
    (typeof o.clientOptions !== "object" || o.clientOptions === null)
  ) {
    throw invalid(`clientOptions must be an object, got ${describe(o.clientOptions)}.`);
  }
  return {
    connection: o.connection as MongoClient | Db | string,
    database: o.database as string | undefined,
    collectionPrefix: prefix,
    clock: clock as Clock,
    server,
    writeConcern: resolveWriteConcern(o.writeConcern),
    readConcern,
    sweepIntervalMs:
      o.sweepIntervalMs === undefined
        ? 60_000
        : nonNegativeInteger(o.sweepIntervalMs, "sweepIntervalMs"),
    clientOptions: o.clientOptions as MongoClientOptions | undefined,
  };
}

/** Validates a retention; throws `INVALID_ARGUMENT`. */
export function resolveRetention(value: unknown): Retention {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null) {
    throw invalid(`retention must be { maxLength?, maxAgeMs? }, got ${describe(value)}.`);
  }
  assertKnownOptions(value, RETENTION_KEYS, "retention", "Retention");
  const r = value as Record<string, unknown>;
  const retention: Retention = {};
  if (r.maxLength !== undefined)
    retention.maxLength = positiveInteger(r.maxLength, "retention.maxLength");
  if (r.maxAgeMs !== undefined)
    retention.maxAgeMs = positiveInteger(r.maxAgeMs, "retention.maxAgeMs");
  return retention;
}

/** Validates `maxQueuedEntries`; throws `INVALID_ARGUMENT`. */
export function resolveMaxQueuedEntries(value: unknown): number {
  return value === undefined ? 100_000 : positiveInteger(value, "maxQueuedEntries");
}

/** Validates the dedup store's `maxEntries`; throws `INVALID_ARGUMENT`. */
export function resolveMaxDedupEntries(value: unknown): number {
  return value === undefined
    ? DEFAULT_MONGO_MAX_DEDUP_ENTRIES
    : positiveInteger(value, "maxEntries");
}
