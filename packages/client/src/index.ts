export {
  AssuredError,
  type AssuredErrorCode,
  isAssuredError,
  type Position,
  type RecoveryOutcome,
} from "@assured/core";
export {
  type ClientStorage,
  type MessageResult,
  type MetricSummary,
  type MetricsMeter,
  memoryStorage,
  type RetryPolicy,
} from "@assured/core/protocol";
export {
  AssuredClient,
  createAssuredClient,
  type EmitOptions,
  type PendingMessage,
  type SubscribeOptions,
  type SubscriptionEnded,
} from "./assured-client.js";
export { CLIENT_METER_NAME, type ClientStats } from "./client-metrics.js";
export type { EventHandler, EventMeta } from "./event-handlers.js";
export type {
  HistoryEvent,
  HistoryEventOf,
  HistoryOptions,
  HistoryPage,
} from "./history.js";
export { type IndexedDbStorageOptions, indexedDbStorage } from "./indexeddb-storage.js";
export type { AssuredClientOptions } from "./options.js";
export type { SettledResult } from "./settled-result.js";
export type {
  EventsMap,
  FirstParameter,
  MessagesMap,
  ResultOf,
  SignaturesOf,
} from "./typed-events.js";
export { type WebStorageLike, type WebStorageOptions, webStorage } from "./web-storage.js";
