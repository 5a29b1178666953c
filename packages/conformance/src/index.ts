export { describeBackendFailure } from "./cases/backend-failure.js";
export { describeCapabilities } from "./cases/capabilities.js";
export { describeClose } from "./cases/close.js";
export { describeConcurrency } from "./cases/concurrency.js";
export { describeDedupBackendFailure } from "./cases/dedup-backend-failure.js";
export { describeDedupBasics } from "./cases/dedup-basics.js";
export { describeDedupBatch } from "./cases/dedup-batch.js";
export { describeDedupCapabilities } from "./cases/dedup-capabilities.js";
export { describeDedupConcurrency } from "./cases/dedup-concurrency.js";
export { describeDedupExpiry } from "./cases/dedup-expiry.js";
export { describeDedupInvalidArguments } from "./cases/dedup-invalid-arguments.js";
export { describeDedupQuota } from "./cases/dedup-quota.js";
export { describeDedupRenew } from "./cases/dedup-renew.js";
export { describeDedupRestart } from "./cases/dedup-restart.js";
export { describeHostileNames, HOSTILE_STREAM_NAMES } from "./cases/hostile-names.js";
export { describeIdempotency } from "./cases/idempotency.js";
export { describeInvalidArguments } from "./cases/invalid-arguments.js";
export { describeDedupStoreModel } from "./cases/model-dedup-store.js";
export { describeEventStoreModel } from "./cases/model-event-store.js";
export { describeOffsets } from "./cases/offsets.js";
export { describePayloads } from "./cases/payloads.js";
export { describeReads } from "./cases/reads.js";
export { describeReset } from "./cases/reset.js";
export { describeRestart } from "./cases/restart.js";
export { describeRetention } from "./cases/retention.js";
export { describeTrimmedIds } from "./cases/trimmed-ids.js";
export { describeDedupStore } from "./describe-dedup-store.js";
export { describeEventStore } from "./describe-event-store.js";
export * from "./harness.js";
export {
  describeHarnessModule,
  type HarnessModule,
  type HarnessName,
  type HarnessOmissions,
  harnessesOf,
} from "./harness-module.js";
export * from "./test-clock.js";
