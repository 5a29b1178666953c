// `@assured/core/store`: what store authors use — the EventStore and DedupStore contracts, the
// checks of every store method's arguments, the append-entry and transactional-entry helpers,
// fencing tokens, the group writer (group commit of appends and batches), clocks, the
// optional-driver loader and the pieces of the memory backend.
// Applications import `@assured/core`; the bindings `@assured/core/protocol`.
export * from "./append-entries.js";
export * from "./closest-name.js";
export * from "./dedup-batch.js";
export type * from "./dedup-store.js";
export * from "./dedup-store-arguments.js";
export { toStoreError } from "./errors.js";
export type * from "./event-store.js";
export * from "./event-store-arguments.js";
export * from "./fencing-token.js";
export * from "./group-writer.js";
export * from "./ids.js";
export type { MemoryClaim, MemoryOwnerEntries } from "./memory-backend.js";
export * from "./memory-stream-log.js";
export * from "./optional-driver.js";
export * from "./page-cut.js";
export * from "./server-clock.js";
export * from "./transactional-entries.js";
export { type Clock, systemClock } from "./types.js";
export {
  assertKnownOptions,
  assertPayload,
  assertPositiveInteger,
  assertStreamName,
  assertText,
  describe,
  MAX_APPEND_BATCH,
  MAX_ID_LENGTH,
  MAX_READ_LIMIT,
  MAX_STREAM_NAME_LENGTH,
} from "./validate.js";
