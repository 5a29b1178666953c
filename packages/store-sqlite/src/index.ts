export type { TransactionalEntry } from "@assured/core/store";
export { createSqliteStores, type SqliteStores } from "./create-stores.js";
export { SqliteDedupStore } from "./dedup-store.js";
export { DEFAULT_SYNCHRONOUS, SYNCHRONOUS_LEVELS, type SynchronousLevel } from "./durability.js";
export { SqliteEventStore } from "./event-store.js";
export type {
  SqliteConnectionOptions,
  SqliteDedupStoreOptions,
  SqliteEventStoreOptions,
  SqliteStoresOptions,
} from "./options.js";
export { SCHEMA_VERSION } from "./schema.js";
export type { AppendInTransactionOptions } from "./transactional-append.js";
