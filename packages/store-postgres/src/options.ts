import { AssuredError } from "@assured/core";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "@assured/core/protocol";
import {
  assertKnownOptions,
  assertRetention,
  type Clock,
  describe,
  type Retention,
} from "@assured/core/store";
import type { Pool, PoolConfig } from "pg";

/** Options shared by `PostgresEventStore` and `PostgresDedupStore`. */
export interface PostgresStoreOptions {
  /**
   * Where the data lives: a `pg` `Pool` of yours (the store borrows clients from it and never
   * ends it), or a `postgres://` / `postgresql://` connection string (the store creates a
   * `Pool` it owns and ends on `close()`).
   */
  connection: Pool | string;
  /** The PostgreSQL schema holding the store's tables, created if missing. Default "public". */
  schema?: string;
  /** Prefix of the store's table names: letters, digits and `_`, 1–40 chars. Default "assured_". */
  tablePrefix?: string;
  /**
   * Clock for append times, age retention, leases and TTLs, in ms. Default: the database
   * server's clock (`clock_timestamp()`, read through `ServerClock`), so every node that shares
   * the database judges a lease alike.
   */
  clock?: Clock;
  /** Options of the `Pool` the store creates from a connection string (`max`, timeouts, ssl…). */
  poolOptions?: Omit<PoolConfig, "connectionString">;
  /**
   * Send the hot statements as named prepared statements (parsed and planned once per
   * connection). Default true; set false behind PgBouncer in transaction mode before 1.21,
   * which does not keep prepared statements across transactions.
   */
  preparedStatements?: boolean;
}

/** Options of `PostgresEventStore`. */
export interface PostgresEventStoreOptions extends PostgresStoreOptions {
  /** Retention of every stream's log. Default: keep everything. */
  retention?: Retention;
  /** Most entries waiting for group commit before `append` fails with LIMIT_EXCEEDED. Default 100,000. */
  maxQueuedEntries?: number;
  /**
   * Largest encoded payload `appendInTransaction` accepts (`PAYLOAD_TOO_LARGE` beyond); set it
   * to your server's `limits.maxPayloadBytes`. Default 524,288 (the server's default).
   */
  maxPayloadBytes?: number;
}

/** Options of `PostgresDedupStore`. */
export interface PostgresDedupStoreOptions extends PostgresStoreOptions {
  /** How often (ms) expired claims and responses are deleted; 0 turns it off. Default 60,000. */
  sweepIntervalMs?: number;
  /**
   * Most dedup rows, all owners together (leased or done; expired ones are deleted first when
   * it is reached). A claim of a new key beyond it is `LIMIT_EXCEEDED` (retryable); keys that
   * hold an entry still answer. Default 1,000,000. Counted at most once a second per store, so
   * claims of other nodes racing near it may pass it by what they insert in that second.
   */
  maxEntries?: number;
}

/** Default `maxEntries` of `PostgresDedupStore`. */
export const DEFAULT_POSTGRES_MAX_DEDUP_ENTRIES = 1_000_000;

const COMMON_OPTION_KEYS = [
  "connection",
  "schema",
  "tablePrefix",
  "clock",
  "poolOptions",
  "preparedStatements",
] as const satisfies readonly (keyof PostgresStoreOptions)[];

/** The option names of `PostgresEventStore`; any other is refused. */
export const EVENT_STORE_OPTION_KEYS: readonly string[] = [
  ...COMMON_OPTION_KEYS,
  "retention",
  "maxQueuedEntries",
  "maxPayloadBytes",
] satisfies (keyof PostgresEventStoreOptions)[];

/** The option names of `PostgresDedupStore`; any other is refused. */
export const DEDUP_STORE_OPTION_KEYS: readonly string[] = [
  ...COMMON_OPTION_KEYS,
  "sweepIntervalMs",
  "maxEntries",
] satisfies (keyof PostgresDedupStoreOptions)[];

/** The shared options after validation, with defaults filled in. */
export interface ResolvedStoreOptions {
  connection: Pool | string;
  schema: string;
  tablePrefix: string;
  /** The injected clock, checked on every reading; undefined: the server's clock. */
  clock: Clock | undefined;
  poolOptions: Omit<PoolConfig, "connectionString"> | undefined;
  /** Whether hot statements are named prepared statements. */
  preparedStatements: boolean;
}

const SCHEMA = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const PREFIX = /^[A-Za-z0-9_]{1,40}$/;

function invalid(message: string): AssuredError {
  return new AssuredError("INVALID_ARGUMENT", message);
}

function isPoolLike(value: unknown): value is Pool {
  if (typeof value !== "object" || value === null) return false;
  const pool = value as { connect?: unknown; query?: unknown; end?: unknown };
  return (
    typeof pool.connect === "function" &&
    typeof pool.query === "function" &&
    typeof pool.end === "function"
  );
}

function isConnectionString(value: unknown): value is string {
  return (
    typeof value === "string" &&
    (value.startsWith("postgres://") || value.startsWith("postgresql://"))
  );
}

function positiveInteger(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(`${what} must be a positive integer, got ${describe(value)}.`);
  }
  return value;
}

/**
 * Wraps an injected clock so that a reading that is not a finite number throws
 * `INVALID_ARGUMENT` instead of reaching the database.
 */
function checkedClock(clock: unknown): Clock {
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

/**
 * Validates the shared options and fills in defaults; throws `INVALID_ARGUMENT`, also for a key
 * not in `known` (the option names of `typeName`). `poolOptions` are the driver's own and are
 * only checked to be an object.
 */
export function resolveStoreOptions(
  options: unknown,
  what: string,
  known: readonly string[],
  typeName: string,
): ResolvedStoreOptions {
  assertKnownOptions(options, known, what, typeName);
  const o = options as Record<string, unknown>;
  if (!isPoolLike(o.connection) && !isConnectionString(o.connection)) {
    throw invalid(
      `connection must be a pg Pool or a "postgres://" URL, got ${describe(o.connection)}.`,
    );
  }
  const schema = o.schema ?? "public";
  if (typeof schema !== "string" || !SCHEMA.test(schema)) {
    throw invalid(
      `schema must be 1–63 letters, digits or underscores, not starting with a digit, got ${describe(schema)}.`,
    );
  }
  const tablePrefix = o.tablePrefix ?? "assured_";
  if (typeof tablePrefix !== "string" || !PREFIX.test(tablePrefix)) {
    throw invalid(
      `tablePrefix must be 1–40 letters, digits or underscores, got ${describe(tablePrefix)}.`,
    );
  }
  if (
    o.poolOptions !== undefined &&
    (typeof o.poolOptions !== "object" || o.poolOptions === null || Array.isArray(o.poolOptions))
  ) {
    throw invalid(
      `poolOptions must be an object of pg PoolConfig, got ${describe(o.poolOptions)}.`,
    );
  }
  if (o.poolOptions !== undefined && typeof o.connection !== "string") {
    throw invalid(
      "poolOptions apply only to a connection string; configure your own Pool instead.",
    );
  }
  const preparedStatements = o.preparedStatements ?? true;
  if (typeof preparedStatements !== "boolean") {
    throw invalid(`preparedStatements must be a boolean, got ${describe(preparedStatements)}.`);
  }
  return {
    connection: o.connection as Pool | string,
    schema,
    tablePrefix,
    clock: o.clock === undefined ? undefined : checkedClock(o.clock),
    poolOptions: o.poolOptions as ResolvedStoreOptions["poolOptions"],
    preparedStatements,
  };
}

/** Validates a retention (each bound optional, a positive integer); returns a copy. */
export function resolveRetention(value: unknown): Retention {
  if (value === undefined) return {};
  assertRetention(value);
  const { maxLength, maxAgeMs } = value;
  return {
    ...(maxLength === undefined ? {} : { maxLength }),
    ...(maxAgeMs === undefined ? {} : { maxAgeMs }),
  };
}

/** Validates `maxQueuedEntries`; throws `INVALID_ARGUMENT`. */
export function resolveMaxQueuedEntries(value: unknown): number {
  return value === undefined ? 100_000 : positiveInteger(value, "maxQueuedEntries");
}

/** Validates `maxPayloadBytes` (default `DEFAULT_MAX_PAYLOAD_BYTES`); throws `INVALID_ARGUMENT`. */
export function resolveMaxPayloadBytes(value: unknown): number {
  return value === undefined
    ? DEFAULT_MAX_PAYLOAD_BYTES
    : positiveInteger(value, "maxPayloadBytes");
}

/** Validates the dedup sweep interval: 0 (off) or a positive integer of ms. */
export function resolveSweepInterval(value: unknown): number {
  if (value === undefined) return 60_000;
  if (value === 0) return 0;
  return positiveInteger(value, "sweepIntervalMs");
}

/** Validates the dedup store's `maxEntries`; throws `INVALID_ARGUMENT`. */
export function resolveMaxDedupEntries(value: unknown): number {
  return value === undefined
    ? DEFAULT_POSTGRES_MAX_DEDUP_ENTRIES
    : positiveInteger(value, "maxEntries");
}
