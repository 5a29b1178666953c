import type pg from "pg";
import { OWN_POOL_DEFAULTS, type StoreConnection } from "./connection.js";
import { postgresDriver } from "./driver.js";
import type { ResolvedStoreOptions } from "./options.js";

/**
 * Makes the dedicated `LISTEN` connections of `watchCommits`: a `pg.Client` with the settings
 * of the store's pool (your `Pool`'s options, or the connection string with `poolOptions`),
 * outside the pool, so it never takes one of the pool's `max` slots nor is handed to a query.
 * `application_name` is the channel, so the connection is easy to find in `pg_stat_activity`.
 * Unless set, a connection attempt gives up after 10 s and TCP keepalive (first probe after
 * 10 s idle) notices a peer that vanished without closing the connection.
 */
export function listenClientFactory(
  options: ResolvedStoreOptions,
  connection: StoreConnection,
  channel: string,
): () => pg.Client {
  const own = typeof options.connection === "string";
  const poolClient = own
    ? undefined
    : (connection.pool as unknown as { Client?: typeof pg.Client }).Client;
  const base: pg.ClientConfig = own
    ? {
        ...OWN_POOL_DEFAULTS,
        ...options.poolOptions,
        connectionString: options.connection as string,
      }
    : { ...(connection.pool.options as pg.ClientConfig) };
  const config: pg.ClientConfig = {
    ...base,
    connectionTimeoutMillis: base.connectionTimeoutMillis ?? 10_000,
    keepAlive: base.keepAlive ?? true,
    keepAliveInitialDelayMillis: base.keepAliveInitialDelayMillis ?? 10_000,
    application_name: channel,
  };
  return () => new (poolClient ?? postgresDriver().Client)(config);
}
