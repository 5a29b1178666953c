export type { MetricSummary, MetricsMeter } from "@assured/core/protocol";
export { encodeApplicationError } from "./application-error.js";
export {
  AssuredServer,
  type CloseOptions,
  createAssuredServer,
  type PublishOptions,
  type ServerSubscribeOptions,
} from "./assured-server.js";
export type { OnServerFailure, ServerFailure, ServerFailureKind } from "./failure-reports.js";
export { type AssuredLimits, DEFAULT_LIMITS } from "./limits.js";
export {
  type DedupOutcome,
  type PublishOutcome,
  SERVER_METER_NAME,
  type ServerStats,
} from "./metrics.js";
export type {
  AssuredServerOptions,
  FirstParameter,
  MessageContext,
  MessageHandler,
  MessagesMap,
  PublishMap,
  ResultOf,
  SocketOf,
  StreamAction,
} from "./options.js";
export { decideOutcome, type SubscribeOutcome } from "./outcome.js";
export type { PublishResult } from "./publisher.js";
export { RATE_COSTS } from "./rate-limit.js";
export type { SubscriptionOutcome } from "./socket-state.js";
