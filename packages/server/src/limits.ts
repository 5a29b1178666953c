import { AssuredError } from "@assured/core";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "@assured/core/protocol";
import { assertKnownOptions, assertPositiveInteger, MAX_READ_LIMIT } from "@assured/core/store";

/** Every bound the server enforces (G11). All are positive integers. */
export interface AssuredLimits {
  /** Largest encoded payload of a published event or a client message, in bytes. */
  maxPayloadBytes: number;
  /** Most events one (re)subscription replays; beyond it the outcome is `recovered: false, reason: "limit"`. */
  replayLimit: number;
  /**
   * Payload bytes per `assured:batch` frame, fetch reply or first page of an
   * `assured:subscribed`; a larger page is cut short (a larger single event travels alone).
   */
  maxBatchBytes: number;
  /**
   * How long a fetch reply or a subscribe reply's first page may stay unwritten in the server's
   * buffers: a connection that has not written it by then is closed (the peer stopped reading),
   * its buffers dropped and its byte budget given back; the client recovers when it reconnects.
   */
  writeTimeoutMs: number;
  /**
   * Most records one `assured:fetch` returns (larger limits are lowered to it), and most records
   * in the first page of an `assured:subscribed`.
   */
  fetchLimit: number;
  /** Most streams in one `assured:heads` request. */
  maxHeadsStreams: number;
  /** Most streams one socket may be subscribed to (handshake and frames together). */
  maxSubscriptionsPerSocket: number;
  /** Client messages queued per socket behind the running one; beyond it `LIMIT_EXCEEDED`. */
  maxQueuedMessages: number;
  /**
   * Handled messages of one socket whose responses may still be on their way into the dedup
   * store while the socket's next messages run (default 32). Handlers still run one at a time
   * in send order, and each reply leaves only once its response is stored; the window lets the
   * responses of one client's messages be written together (one store write for many) instead
   * of one store round trip per message. The price: a server that crashes runs again the
   * handlers of the messages whose responses were not stored yet, at most this many per socket
   * (with 1, each response is stored before the socket's next handler starts: at most one).
   */
  maxUnstoredResponses: number;
  /** Published events waiting for their append (all streams); beyond it `publish` rejects with `LIMIT_EXCEEDED`. */
  maxPendingPublishes: number;
  /** Most events written by one group-committed `store.append` call. */
  maxAppendBatch: number;
  /**
   * Rate limit (G11): tokens a client earns per second (its token bucket's refill). Frames are
   * charged per unit of work, not per frame (`RATE_COSTS`; one token is about the server work
   * of one small frame):
   *
   * - handshake: 1 per subscription; `assured:sub` 1; `assured:unsub` 1;
   * - a subscription the client asked for (handshake or `assured:sub`) also pays its first
   *   page, 1 per 32 records, once the server has read it (the rest is fetched and paid so);
   * - `assured:heads`: 1 per 16 streams, rounded up (16 for 256 streams);
   * - `assured:fetch`: 1 per 32 records read plus 1 per 32 KiB of payloads sent, rounded up;
   *   the records of its `limit` are reserved when it arrives, the rest settled after the reply;
   * - `assured:msg`: 3, plus 1 per full 32 KiB of payload.
   *
   * A frame the bucket cannot pay is answered `RATE_LIMITED` (retryable) and not processed; a
   * refusal takes no tokens. Work sized only afterwards (a fetch's bytes, a first page) may put the
   * bucket into debt, which later frames wait out. The bucket is per socket; with an `identify`
   * hook, all sockets of one principal on this server share one. The default, 500, holds a
   * client to a few percent of a core whatever it sends (4 clients hammering heads, fetches or
   * messages at this rate at most double another client's median latency: `e2e/test/
   * fairness.test.ts`), while a client with 256 subscriptions that checks their heads every
   * 15 s spends about one token a second, and one sending messages gets 166 a second.
   */
  tokensPerSecond: number;
  /**
   * Token bucket size: what a client may spend at once (default 1,000: a handshake with the
   * most subscriptions, 256, or with a few dozen whose replays hold a few hundred events each,
   * plus gap fetches and a window of messages). Beyond it a client's replays are paced at
   * `tokensPerSecond × 32` records a second (refused subscriptions are retried by the client).
   * A new socket (without `identify`) or a new principal starts with a full bucket. A frame
   * that costs more than the bucket holds passes once it is full.
   */
  burstTokens: number;
  /**
   * Dedup lease: how long a handler's claim on its message outlives its last renewal. While the
   * handler runs the server renews the lease every `leaseMs / 3`, so a handler may run longer
   * than the lease; when the process dies (or cannot reach the dedup store) the lease ends
   * within `leaseMs` and a copy of the message may run again. A run whose lease is lost (taken
   * over, or not renewed in time) has its `context.signal` aborted and its answer is not stored.
   * Shorter leases recover from crashed nodes faster and cost more renewals.
   */
  leaseMs: number;
  /**
   * How long one message's turn may take (its handler, or its wait for a copy running
   * elsewhere) before the server gives it up: the handler's `context.signal` aborts, its claim
   * is released, and the client gets a retryable `TIMEOUT` and sends the message again later.
   * Until then the socket's later messages wait behind it (send order, G10). Default 5 minutes.
   */
  handlerTimeoutMs: number;
  /**
   * Dedup window: how long a handled message's response answers duplicates. Clients learn it
   * from `assured:hello`; a message older than it less a margin (`min(60 s, dedupTtlMs / 10)`)
   * gets the final `EXPIRED` instead of running (message-expiry.ts).
   */
  dedupTtlMs: number;
  /**
   * Dedup entries one principal may hold at once (messages running or answered within
   * `dedupTtlMs`), passed as the owner quota with every claim. A new message beyond it gets the
   * final error `QUOTA_EXCEEDED`, so one principal sending unique ids cannot fill the dedup
   * store for everyone (DESIGN.md §8). The default, 10,000, is one message every 8.6 s around
   * the clock with the default 24 h window (far above a person's use) and a tenth of
   * `MemoryDedupStore`'s default `maxEntries`; lower it with a shorter window, raise it for
   * principals that are services sending in bulk.
   */
  maxDedupEntriesPerPrincipal: number;
  /**
   * Packets Socket.IO may hold unsent for one connection (a client that stopped reading); beyond
   * it the connection is closed and the client recovers by replay. Checked whenever a packet is
   * queued for the connection.
   */
  maxSocketBacklog: number;
  /**
   * Bytes one connection may hold unsent: the packets in engine.io's write buffer (string length
   * or binary byte length) plus the WebSocket's `bufferedAmount`. Checked whenever a packet is
   * queued for the connection (live batches, replay pages, replies); beyond it the connection
   * is closed at once and its buffers are dropped, and the client recovers by replay. Default
   * 16 MiB; at least `maxSocketReplayBytes + maxBatchBytes`, so a full replay budget plus one
   * live batch never closes a client that reads.
   */
  maxSocketBacklogBytes: number;
  /**
   * Bytes of catch-up pages (fetch replies and the first page of a subscribe reply) in flight
   * per socket: a page counts from its read until it left the server's buffers (or the socket
   * disconnected). A fetch or subscription whose page does not fit waits (FIFO per socket)
   * instead of being buffered. Default 4 MiB; at least `maxBatchBytes`, so one page fits.
   */
  maxSocketReplayBytes: number;
  /**
   * Bytes of catch-up pages in flight on the whole server (all sockets of the namespace).
   * Beyond it fetches and subscriptions queue, first come first served, one waiting
   * request per socket (a socket's further requests wait in its own queue); a waiter whose
   * socket disconnects or whose subscription is superseded leaves the queue. Default 256 MiB;
   * at least `maxSocketReplayBytes`.
   */
  maxReplayBytesInFlight: number;
  /**
   * Bytes of client messages queued per socket behind the running one (payload, id and name,
   * kept encoded until their turn); beyond it `LIMIT_EXCEEDED` (retryable), like
   * `maxQueuedMessages`. A message always fits in an empty queue. Default 8 MiB; at least
   * `maxPayloadBytes`.
   */
  maxQueuedBytes: number;
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
  maxBatchBytes: 1024 * 1024,
  writeTimeoutMs: 30_000,
  fetchLimit: 1_000,
  maxHeadsStreams: 256,
  maxSubscriptionsPerSocket: 256,
  maxQueuedMessages: 256,
  maxUnstoredResponses: 32,
  maxPendingPublishes: 10_000,
  maxAppendBatch: 1_000,
  tokensPerSecond: 500,
  burstTokens: 1_000,
  leaseMs: 30_000,
  handlerTimeoutMs: 5 * 60 * 1000,
  dedupTtlMs: 24 * 60 * 60 * 1000,
  maxDedupEntriesPerPrincipal: 10_000,
  maxSocketBacklog: 10_000,
  maxSocketBacklogBytes: 16 * 1024 * 1024,
  maxSocketReplayBytes: 4 * 1024 * 1024,
  maxReplayBytesInFlight: 256 * 1024 * 1024,
  maxQueuedBytes: 8 * 1024 * 1024,
  closeTimeoutMs: 10_000,
});

/** Merges user limits over the defaults and validates every value. */
export function resolveLimits(limits: Partial<AssuredLimits> | undefined): AssuredLimits {
  if (limits !== undefined && (typeof limits !== "object" || limits === null)) {
    throw new AssuredError("INVALID_ARGUMENT", "limits must be an object of positive integers.");
  }
  for (const key of Object.keys(limits ?? {})) {
    const removed = Object.hasOwn(REMOVED_LIMITS, key) ? REMOVED_LIMITS[key] : undefined;
    if (removed !== undefined) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `limits.${key} was removed in protocol v2: ${removed}`,
      );
    }
  }
  assertKnownOptions(limits ?? {}, Object.keys(DEFAULT_LIMITS), "limits", "AssuredLimits");
  const resolved: AssuredLimits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(limits ?? {})) {
    if (value === undefined) continue;
    assertPositiveInteger(value, `limits.${key}`);
    resolved[key as keyof AssuredLimits] = value;
  }
  for (const key of ["fetchLimit", "maxAppendBatch"] as const) {
    if (resolved[key] > MAX_READ_LIMIT) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `limits.${key} must be at most ${MAX_READ_LIMIT}.`,
      );
    }
  }
  assertRelations(resolved);
  return resolved;
}

/**
 * Limits of protocol v1's server-pushed replay, gone in v2 (the client pulls catch-up pages with
 * `assured:fetch`, one outstanding per stream, and its buffer is the flow control): what to do.
 */
const REMOVED_LIMITS: Readonly<Record<string, string>> = Object.freeze({
  replayBatchSize:
    "the first page of a subscription and every fetch reply hold at most limits.fetchLimit records; remove it (or set fetchLimit).",
  replayWindow:
    "the server no longer pushes replay windows (the client pulls one page at a time when its buffer has room); remove it.",
  replayAckTimeoutMs:
    "there are no replay acks any more; the deadline for a peer that stops reading is limits.writeTimeoutMs.",
});

/** Byte budgets that must hold one unit of what they bound (see each limit's documentation). */
const AT_LEAST: readonly [
  limit: keyof AssuredLimits,
  atLeast: (limits: AssuredLimits) => number,
  what: string,
][] = [
  ["maxSocketReplayBytes", (l) => l.maxBatchBytes, "maxBatchBytes (one page must fit)"],
  [
    "maxReplayBytesInFlight",
    (l) => l.maxSocketReplayBytes,
    "maxSocketReplayBytes (one socket's budget must fit)",
  ],
  [
    "maxSocketBacklogBytes",
    (l) => l.maxSocketReplayBytes + l.maxBatchBytes,
    "maxSocketReplayBytes + maxBatchBytes (a full replay budget and one live batch must not close a reading client)",
  ],
  ["maxQueuedBytes", (l) => l.maxPayloadBytes, "maxPayloadBytes (one message must fit)"],
];

function assertRelations(limits: AssuredLimits): void {
  for (const [key, atLeast, what] of AT_LEAST) {
    const minimum = atLeast(limits);
    if (limits[key] < minimum) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `limits.${key} (${limits[key]}) must be at least ${what}: ${minimum}.`,
      );
    }
  }
}
