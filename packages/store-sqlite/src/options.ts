import { AssuredError } from "@assured/core";
import {
  assertKnownOptions,
  assertRetention,
  type Clock,
  describe,
  type Retention,
  systemClock,
} from "@assured/core/store";
import type Database from "better-sqlite3";
import { sqliteDriver } from "./driver.js";
import { DEFAULT_SYNCHRONOUS, SYNCHRONOUS_LEVELS, type SynchronousLevel } from "./durability.js";

/** Options shared by every SQLite store: where the data lives and how it is written. */
export interface SqliteConnectionOptions {
  /**
   * Path of the database file, created if missing. `":memory:"` gives a private database that
   * lives as long as the store (not persistent, not shared). Give `path` or `database`.
   */
  path?: string;
  /**
   * An open better-sqlite3 database to use instead of `path`. The store switches it to WAL mode
   * and creates its tables in it; the database stays open after the store's `close()`.
   */
  database?: Database.Database;
  /** Durability of a commit; see `SynchronousLevel`. Default `"normal"`. */
  synchronous?: SynchronousLevel;
  /** How long a write waits for another connection's lock before failing. Default 5,000 ms. */
  busyTimeoutMs?: number;
  /** The clock for append times, retention and leases, in ms. Default `Date.now`. */
  clock?: Clock;
}

/** Options of `SqliteEventStore`. */
export interface SqliteEventStoreOptions extends SqliteConnectionOptions {
  /** Trim each stream's log by length and/or age. Default: keep everything. */
  retention?: Retention;
  /**
   * With `retention`, how often every stream is trimmed, so that streams without appends shed
   * expired events too; 0 turns the timer off. Default 60,000.
   */
  sweepIntervalMs?: number;
}

/** Options of `SqliteDedupStore`. */
export interface SqliteDedupStoreOptions extends SqliteConnectionOptions {
  /** How often expired claims and responses are deleted; 0 turns the timer off. Default 60,000. */
  sweepIntervalMs?: number;
  /**
   * Most dedup rows in the file, all owners together (leased or done; expired rows are deleted
   * first when it is reached). A claim of a new key beyond it is `LIMIT_EXCEEDED` (retryable).
   * Default 1,000,000 (a few hundred bytes of disk each plus the stored response; see the
   * README's sizing). Each owner's share is bounded by the `owner.maxEntries` of its claims.
   */
  maxEntries?: number;
}

/** Options of `createSqliteStores`: the union of both stores' options. */
export interface SqliteStoresOptions extends SqliteEventStoreOptions, SqliteDedupStoreOptions {}

const CONNECTION_KEYS = [
  "path",
  "database",
  "synchronous",
  "busyTimeoutMs",
  "clock",
] as const satisfies readonly (keyof SqliteConnectionOptions)[];

/** The option names of `SqliteEventStore`; any other is refused. */
export const EVENT_STORE_OPTION_KEYS: readonly string[] = [
  ...CONNECTION_KEYS,
  "retention",
  "sweepIntervalMs",
] satisfies (keyof SqliteEventStoreOptions)[];

/** The option names of `SqliteDedupStore`; any other is refused. */
export const DEDUP_STORE_OPTION_KEYS: readonly string[] = [
  ...CONNECTION_KEYS,
  "sweepIntervalMs",
  "maxEntries",
] satisfies (keyof SqliteDedupStoreOptions)[];

/** The option names of `createSqliteStores`: both stores' together. */
export const STORES_OPTION_KEYS: ReadonlySet<string> = new Set([
  ...EVENT_STORE_OPTION_KEYS,
  ...DEDUP_STORE_OPTION_KEYS,
]);

/** Connection options after validation, with defaults applied. */
export interface ResolvedConnectionOptions {
  path: string | undefined;
  database: Database.Database | undefined;
  synchronous: SynchronousLevel;
  busyTimeoutMs: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
/** Longest accepted busy timeout: a blocked write stalls the event loop this long at most. */
const MAX_BUSY_TIMEOUT_MS = 60_000;
const DEFAULT_SWEEP_INTERVAL_MS = 60_000;

function invalid(message: string): AssuredError {
  return new AssuredError("INVALID_ARGUMENT", message);
}

/**
 * Throws `INVALID_ARGUMENT` unless `options` is a plain options object whose keys are all in
 * `known` (the option names of `typeName`).
 */
export function assertOptionsObject(
  options: unknown,
  what: string,
  known: ReadonlySet<string> | readonly string[],
  typeName: string,
): asserts options is object {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw invalid(`${what} options must be an object, got ${describe(options)}.`);
  }
  assertKnownOptions(options, known, what, typeName);
}

/** The entries of `options` whose keys are in `keys` (one store's share of shared options). */
export function pickOptions<T extends object>(options: T, keys: readonly string[]): T {
  return Object.fromEntries(Object.entries(options).filter(([key]) => keys.includes(key))) as T;
}

/** Validates where and how to connect; throws `INVALID_ARGUMENT` naming the bad option. */
export function resolveConnectionOptions(
  options: SqliteConnectionOptions,
): ResolvedConnectionOptions {
  const { path, database } = options;
  if ((path === undefined) === (database === undefined)) {
    throw invalid(
      "give exactly one of `path` (a file path) or `database` (a better-sqlite3 Database).",
    );
  }
  if (
    path !== undefined &&
    (typeof path !== "string" || path.length === 0 || path.includes("\0"))
  ) {
    throw invalid(`path must be a non-empty file path, got ${describe(path)}.`);
  }
  if (database !== undefined && !(database instanceof sqliteDriver())) {
    throw invalid(`database must be a better-sqlite3 Database, got ${describe(database)}.`);
  }
  if (database !== undefined && (!database.open || database.readonly)) {
    throw invalid("database must be open and writable.");
  }
  const synchronous = options.synchronous ?? DEFAULT_SYNCHRONOUS;
  if (!SYNCHRONOUS_LEVELS.includes(synchronous)) {
    throw invalid(
      `synchronous must be one of ${SYNCHRONOUS_LEVELS.join(", ")}, got ${describe(synchronous)}.`,
    );
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  if (
    typeof busyTimeoutMs !== "number" ||
    !Number.isSafeInteger(busyTimeoutMs) ||
    busyTimeoutMs < 0 ||
    busyTimeoutMs > MAX_BUSY_TIMEOUT_MS
  ) {
    throw invalid(
      `busyTimeoutMs must be an integer from 0 to ${MAX_BUSY_TIMEOUT_MS}, got ${describe(busyTimeoutMs)}.`,
    );
  }
  return { path, database, synchronous, busyTimeoutMs };
}

/**
 * Validates the injected clock (default: the wall clock) and wraps it so that a reading that is
 * not a finite number throws `INVALID_ARGUMENT` instead of reaching the database.
 */
export function resolveClock(clock: unknown): Clock {
  if (clock === undefined) return systemClock;
  if (typeof clock !== "function") {
    throw invalid(`clock must be a function returning milliseconds, got ${describe(clock)}.`);
  }
  const read = clock as () => unknown;
  return () => {
    const now = read();
    if (typeof now !== "number" || !Number.isFinite(now)) {
      throw invalid(`clock must return a finite number of milliseconds, got ${describe(now)}.`);
    }
    return now;
  };
}

/** Validates retention bounds (each optional, each a positive integer); returns a copy. */
export function resolveRetention(retention: unknown): Retention {
  if (retention === undefined) return {};
  assertRetention(retention);
  const { maxLength, maxAgeMs } = retention;
  return {
    ...(maxLength === undefined ? {} : { maxLength }),
    ...(maxAgeMs === undefined ? {} : { maxAgeMs }),
  };
}

/** Default `maxEntries` of `SqliteDedupStore`. */
export const DEFAULT_SQLITE_MAX_DEDUP_ENTRIES = 1_000_000;

/** Validates `maxEntries` (a positive integer); returns it or the default. */
export function resolveMaxEntries(value: unknown): number {
  if (value === undefined) return DEFAULT_SQLITE_MAX_DEDUP_ENTRIES;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(`maxEntries must be a positive integer, got ${describe(value)}.`);
  }
  return value;
}

/** Validates the sweep interval: 0 (off) or a positive integer of milliseconds. */
export function resolveSweepInterval(value: unknown): number {
  if (value === undefined) return DEFAULT_SWEEP_INTERVAL_MS;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`sweepIntervalMs must be 0 or a positive integer, got ${describe(value)}.`);
  }
  return value;
}
