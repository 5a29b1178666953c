// `@assured/core/protocol`: what the server and client bindings use — the wire frames and
// records, the client's sequencer and outbox, the server's dedup runner and resume rule,
// backoff, metric instruments and the checks of frame fields. Pure state machines, no I/O.
// Applications import `@assured/core`; store authors `@assured/core/store`.
export * from "./backoff.js";
export * from "./bad-frame.js";
export * from "./client-frames.js";
export * from "./client-locks.js";
export * from "./client-storage.js";
export { decodeConcatenated } from "./codec.js";
export * from "./dedup.js";
export * from "./dedup-key.js";
export * from "./fingerprint.js";
export * from "./group-commit.js";
export * from "./message-batch.js";
export * from "./metric-instruments.js";
export * from "./metric-summary.js";
export * from "./metrics-meter.js";
export * from "./msgpack-bounds.js";
export * from "./outbox.js";
export type { OutboxChannel, OutboxTimers } from "./outbox-adoption.js";
export {
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_RESULT_BYTES,
  DEFAULT_WINDOW,
  type OutboxOptions,
} from "./outbox-options.js";
export type { MessageResult, OutboxMessage, ReceivedResult } from "./outbox-storage.js";
export { base64ToBytes, bytesToBase64 } from "./outbox-storage.js";
export * from "./protocol.js";
export * from "./resume.js";
export * from "./retry-barrier.js";
export * from "./sequencer.js";
export * from "./sequencer-input.js";
export {
  assertEpoch,
  assertEventName,
  assertId,
  assertLimit,
  assertOffset,
  assertPosition,
  isEventRecord,
  MAX_EPOCH_LENGTH,
} from "./validate.js";
export * from "./wire-records.js";
