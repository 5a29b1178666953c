import { SqliteConnection } from "./connection.js";
import { SqliteDedupStore } from "./dedup-store.js";
import { SqliteEventStore } from "./event-store.js";
import {
  assertOptionsObject,
  DEDUP_STORE_OPTION_KEYS,
  EVENT_STORE_OPTION_KEYS,
  pickOptions,
  resolveClock,
  resolveConnectionOptions,
  resolveMaxEntries,
  resolveRetention,
  resolveSweepInterval,
  type SqliteStoresOptions,
  STORES_OPTION_KEYS,
} from "./options.js";

/** Both stores on one connection; see `createSqliteStores`. */
export interface SqliteStores {
  eventStore: SqliteEventStore;
  dedupStore: SqliteDedupStore;
  /** Closes both stores (and so the connection). Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens one connection and builds an event store and a dedup store on it. The connection
 * closes when both stores are closed.
 *
 * @example
 * const { eventStore, dedupStore, close } = createSqliteStores({ path: "assured.sqlite" });
 */
export function createSqliteStores(options: SqliteStoresOptions): SqliteStores {
  assertOptionsObject(options, "createSqliteStores", STORES_OPTION_KEYS, "SqliteStoresOptions");
  // Validate every option before the file is opened or created.
  resolveClock(options.clock);
  resolveRetention(options.retention);
  resolveSweepInterval(options.sweepIntervalMs);
  resolveMaxEntries(options.maxEntries);
  const connection = SqliteConnection.open(resolveConnectionOptions(options));
  let eventStore: SqliteEventStore | undefined;
  try {
    eventStore = new SqliteEventStore(pickOptions(options, EVENT_STORE_OPTION_KEYS), connection);
    const dedupStore = new SqliteDedupStore(
      pickOptions(options, DEDUP_STORE_OPTION_KEYS),
      connection,
    );
    const stores = { eventStore, dedupStore };
    return {
      ...stores,
      async close() {
        await stores.eventStore.close();
        await stores.dedupStore.close();
      },
    };
  } catch (error) {
    void eventStore?.close();
    connection.closeIfUnused();
    throw error;
  }
}
