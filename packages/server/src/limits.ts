import {
  AssuredError,
  assertPositiveInteger,
  DEFAULT_MAX_PAYLOAD_BYTES,
  MAX_READ_LIMIT,
} from "@assured/core";

/** Every bound the server enforces (G11). All are positive integers. */
export interface AssuredLimits {
  /** Largest encoded payload of a published event or a client message, in bytes. */
  maxPayloadBytes: number;
  /** Most events one (re)subscription replays; beyond it the outcome is `recovered: false, reason: "limit"`. */
  replayLimit: number;
  /** Events per replay `assured:batch` (and per store read while replaying). */
  replayBatchSize: number;
  /** Payload bytes per `assured:batch` frame or fetch reply; larger pages are split (a larger single event travels alone). */
  maxBatchBytes: number;
  /** Replay batches sent and not yet acknowledged by the client, per subscription. */
  replayWindow: number;
  /** How long the server waits for a replay batch's ack before it stops that replay. */
  replayAckTimeoutMs: number;
  /** Most records one `assured:fetch` returns (larger limits are lowered to it). */
  fetchLimit: number;
  /** Most streams in one `assured:heads` request. */
  maxHeadsStreams: number;
  /** Most streams one socket may be subscribed to (handshake and frames together). */
  maxSubscriptionsPerSocket: number;
  /** Client messages queued per socket behind the running one; beyond it `LIMIT_EXCEEDED`. */
  maxQueuedMessages: number;
  /** Published events waiting for their append (all streams); beyond it `publish` rejects with `LIMIT_EXCEEDED`. */
  maxPendingPublishes: number;
  /** Most events written by one group-committed `store.append` call. */
  maxAppendBatch: number;
  /** Sustained `assured:*` frames per second per socket (token bucket refill rate). */
  messagesPerSecond: number;
  /** Token bucket size: frames a socket may send in a burst. */
  burst: number;
  /**
   * Dedup lease: how long a running handler holds its message before a duplicate may run it
   * again, and how long its socket's queue waits for it (then `TIMEOUT`). Longer than your
   * slowest handler.
   */
  leaseMs: number;
  /** Dedup window: how long a handled message's response answers duplicates. */
  dedupTtlMs: number;
  /**
   * Packets Socket.IO may hold unsent for one connection (a client that stopped reading); beyond
   * it the connection is closed and the client recovers by replay. Checked once a second.
   */
  maxSocketBacklog: number;
  /**
   * How long `close()` waits for pending publishes and running handlers before it resolves
   * anyway (a hung handler or a store that never answers must not hang shutdown).
   */
  closeTimeoutMs: number;
}

/** The defaults of every limit. */
export const DEFAULT_LIMITS: Readonly<AssuredLimits> = Object.freeze({
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  replayLimit: 10_000,
  replayBatchSize: 500,
  maxBatchBytes: 1024 * 1024,
  replayWindow: 4,
  replayAckTimeoutMs: 30_000,
  fetchLimit: 1_000,
  maxHeadsStreams: 256,
  maxSubscriptionsPerSocket: 256,
  maxQueuedMessages: 256,
  maxPendingPublishes: 10_000,
  maxAppendBatch: 1_000,
  messagesPerSecond: 500,
  burst: 1_000,
  leaseMs: 30_000,
  dedupTtlMs: 24 * 60 * 60 * 1000,
  maxSocketBacklog: 10_000,
  closeTimeoutMs: 10_000,
});

/** Merges user limits over the defaults and validates every value. */
export function resolveLimits(limits: Partial<AssuredLimits> | undefined): AssuredLimits {
  if (limits !== undefined && (typeof limits !== "object" || limits === null)) {
    throw new AssuredError("INVALID_ARGUMENT", "limits must be an object of positive integers.");
  }
  const resolved: AssuredLimits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(limits ?? {})) {
    if (!(key in DEFAULT_LIMITS)) {
      throw new AssuredError("INVALID_ARGUMENT", `unknown limit "${key}".`);
    }
    if (value === undefined) continue;
    assertPositiveInteger(value, `limits.${key}`);
    resolved[key as keyof AssuredLimits] = value;
  }
  for (const key of ["replayBatchSize", "fetchLimit", "maxAppendBatch"] as const) {
    if (resolved[key] > MAX_READ_LIMIT) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `limits.${key} must be at most ${MAX_READ_LIMIT}.`,
      );
    }
  }
  return resolved;
}
