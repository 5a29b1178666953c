export type { RedisConnection } from "./connection.js";
export {
  DEFAULT_REDIS_MAX_DEDUP_ENTRIES,
  RedisDedupStore,
  type RedisDedupStoreOptions,
} from "./dedup-store.js";
export { RedisEventStore, type RedisEventStoreOptions } from "./event-store.js";
export {
  DEFAULT_KEY_PREFIX,
  dedupBoundKey,
  dedupBoundMember,
  dedupEntryKey,
  dedupOwnerTag,
  dedupQuotaKey,
  encodeKeyPart,
  ownedDedupEntryKey,
  streamLogKey,
} from "./keys.js";
export type { RedisStoreOptions } from "./options.js";
