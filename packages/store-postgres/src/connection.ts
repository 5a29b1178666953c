import type pg from "pg";
import { postgresDriver } from "./driver.js";
import type { ResolvedStoreOptions } from "./options.js";

/** The pool a store works on, and whether the store owns it (ends it on `close()`). */
export interface StoreConnection {
  pool: pg.Pool;
  owned: boolean;
}

/**
 * Defaults of a pool the store creates, unless `poolOptions` set them: a connection attempt
 * gives up after 10 s (pg's own default waits forever), TCP keepalive finds dead peers, and
 * idle connections are closed after 30 s.
 */
export const OWN_POOL_DEFAULTS = {
  max: 10,
  connectionTimeoutMillis: 10_000,
  idleTimeoutMillis: 30_000,
  keepAlive: true,
} as const satisfies pg.PoolConfig;

/** Ignores idle clients' connection errors (a restarted server): the next query reconnects. */
function ignore(): void {}

/**
 * Resolves the `connection` option. A `Pool` stays the caller's (the store borrows clients and
 * never ends it); a connection string gives a pool the store owns, with `OWN_POOL_DEFAULTS`.
 * The pool connects lazily, on the first query.
 */
export function openConnection(options: ResolvedStoreOptions): StoreConnection {
  if (typeof options.connection !== "string") return { pool: options.connection, owned: false };
  const pool = new (postgresDriver().Pool)({
    ...OWN_POOL_DEFAULTS,
    ...options.poolOptions,
    connectionString: options.connection,
  });
  // Without a listener, an idle client's error (the server restarted) would crash the process.
  pool.on("error", ignore);
  return { pool, owned: true };
}
