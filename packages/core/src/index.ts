// `@assured/core`: what applications use — the error type and its codes, the payload codec, the
// record, position and recovery types, and the in-memory stores (with a backend that tests can
// break). Store authors import `@assured/core/store`; the server and client bindings
// `@assured/core/protocol`. Each symbol is exported by exactly one entry (test/entry-points.test.ts).
export { decode, encode } from "./codec.js";
export {
  ASSURED_ERROR_CODES,
  AssuredError,
  type AssuredErrorCode,
  type AssuredErrorData,
  isAssuredError,
} from "./errors.js";
export {
  breakMemoryBackend,
  createMemoryBackend,
  type MemoryBackend,
  type MemoryBackendOutage,
} from "./memory-backend.js";
export * from "./memory-dedup-store.js";
export * from "./memory-event-store.js";
export type {
  ClientMessage,
  Epoch,
  EventRecord,
  Offset,
  Position,
  RecoveryOutcome,
  RecoveryReason,
  StreamName,
} from "./types.js";
