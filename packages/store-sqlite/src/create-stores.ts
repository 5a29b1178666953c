import { SqliteConnection } from "./connection.js";
import { SqliteDedupStore } from "./dedup-store.js";
import { SqliteEventStore } from "./event-store.js";
import {
  assertOptionsObject,
  resolveClock,
  resolveConnectionOptions,
  resolveMaxEntries,
  resolveRetention,
  resolveSweepInterval,
  type SqliteStoresOptions,
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
  assertOptionsObject(options, "createSqliteStores");
  // Validate every option before the file is opened or created.
  resolveClock(options.clock);
  resolveRetention(options.retention);
  resolveSweepInterval(options.sweepIntervalMs);
  resolveMaxEntries(options.maxEntries);
  const connection = SqliteConnection.open(resolveConnectionOptions(options));
  let eventStore: SqliteEventStore | undefined;
  try {
    eventStore = new SqliteEventStore(options, connection);
    const dedupStore = new SqliteDedupStore(options, connection);
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
