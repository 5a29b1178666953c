export { MongoDedupStore } from "./dedup-store.js";
export { MongoEventStore } from "./event-store.js";
export type {
  MongoDedupStoreOptions,
  MongoEventStoreOptions,
  MongoServerKind,
  MongoStoreOptions,
  MongoWriteConcern,
} from "./options.js";
