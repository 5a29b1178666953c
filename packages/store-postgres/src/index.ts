export type { TransactionalEntry } from "@assured/core/store";
export { OWN_POOL_DEFAULTS } from "./connection.js";
export { PostgresDedupStore } from "./dedup-store.js";
export { PostgresEventStore } from "./event-store.js";
export {
  DEFAULT_POSTGRES_MAX_DEDUP_ENTRIES,
  type PostgresDedupStoreOptions,
  type PostgresEventStoreOptions,
  type PostgresStoreOptions,
} from "./options.js";
export { SCHEMA_VERSION } from "./schema.js";
