export { MongoDedupStore } from "./dedup-store.js";
export { MongoEventStore } from "./event-store.js";
export {
  DEFAULT_MONGO_MAX_DEDUP_ENTRIES,
  type MongoDedupStoreOptions,
  type MongoEventStoreOptions,
  type MongoServerKind,
  type MongoStoreOptions,
  type MongoWriteConcern,
} from "./options.js";
