export * from "./append-entries.js";
export * from "./backoff.js";
export * from "./client-locks.js";
export * from "./client-storage.js";
export * from "./closest-name.js";
export * from "./codec.js";
export * from "./dedup.js";
export * from "./dedup-batch.js";
export * from "./dedup-key.js";
export type * from "./dedup-store.js";
export * from "./dedup-store-arguments.js";
export * from "./errors.js";
export type * from "./event-store.js";
export * from "./event-store-arguments.js";
export * from "./fencing-token.js";
export * from "./fingerprint.js";
export * from "./group-commit.js";
export * from "./ids.js";
export * from "./memory-backend.js";
export * from "./memory-dedup-store.js";
export * from "./memory-event-store.js";
export * from "./memory-stream-log.js";
export * from "./message-batch.js";
export * from "./metric-instruments.js";
export * from "./metric-summary.js";
export * from "./metrics-meter.js";
export * from "./msgpack-bounds.js";
export * from "./optional-driver.js";
export * from "./outbox.js";
export type { OutboxChannel, OutboxTimers } from "./outbox-adoption.js";
export {
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_RESULT_BYTES,
  type OutboxOptions,
} from "./outbox-options.js";
export type { MessageResult, OutboxMessage, ReceivedResult } from "./outbox-storage.js";
export { base64ToBytes, bytesToBase64 } from "./outbox-storage.js";
export * from "./protocol.js";
export * from "./resume.js";
export * from "./sequencer.js";
export * from "./sequencer-input.js";
export * from "./server-clock.js";
export * from "./transactional-entries.js";
export * from "./types.js";
export * from "./validate.js";
export * from "./wire-records.js";
