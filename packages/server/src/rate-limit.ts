import { AssuredError } from "@assured/core";
import type {
  FetchReply,
  FetchRequest,
  HistoryReply,
  HistoryRequest,
} from "@assured/core/protocol";
import type { AssuredLimits } from "./limits.js";
import {
  availableTokens,
  fullBucket,
  returnTokens,
  type TokenBucket,
  takeOwed,
  takeTokens,
} from "./token-bucket.js";

/**
 * What client frames cost, in rate-limit tokens (G11, DESIGN §8: tokens are charged per unit
 * of work, not per frame). One token is about the server work of one small frame — decoding
 * it, an `authorize` call, a store call, a reply — measured with the SQLite store, so a frame
 * that does ten times that work costs about ten tokens:
 *
 * | frame                   | tokens                                                                  |
 * | ----------------------- | ----------------------------------------------------------------------- |
 * | handshake               | 1 per subscription, plus its first page (below)                         |
 * | `assured:sub`           | 1, plus its first page: 1 per 32 records of the page, rounded up         |
 * | `assured:unsub`         | 1                                                                       |
 * | `assured:heads`         | 1 per 16 streams, rounded up (1–16 for 1–256 streams)                   |
 * | `assured:fetch`         | 1 per 32 records read plus 1 per 32 KiB of payloads sent, rounded up    |
 * | `assured:history`       | as `assured:fetch`                                                      |
 * | `assured:msg`           | 3 (binary payload both ways, fingerprint, dedup claim and completion, handler), plus 1 per full 32 KiB of payload |
 *
 * Every frame costs at least 1 (also one that fails to parse). A frame is admitted when the
 * bucket holds its cost (a cost beyond `burstTokens` once the bucket is full, the rest owed),
 * else refused with `RATE_LIMITED`, taking nothing. Work whose size is known only later is paid
 * then, and may put the bucket into debt, which later frames wait out (work done is always
 * paid for): a fetch reserves the records of its `limit` when it arrives, and once its reply is
 * sent gets back what it did not read and pays for the bytes it sent; a subscription's first
 * page is paid when the server has read it — admitted while the bucket is not empty, else
 * refused with `RATE_LIMITED` before anything is sent. Subscriptions the server makes itself
 * (`assured.subscribe`) are free. A fetch that continues a subscription's catch-up reserves
 * nothing and is admitted even in debt, then paid like any fetch (`catch-up-pacing.ts`).
 */
export const RATE_COSTS = Object.freeze({
  /** `assured:sub`, `assured:unsub`, one handshake subscription; the least any frame costs. */
  frame: 1,
  /** `assured:msg`, besides its payload. */
  message: 3,
  /** `assured:heads`: 1 token per this many streams (rounded up). */
  streamsPerToken: 16,
  /** `assured:fetch` and a subscription's first page: 1 token per this many records read … */
  recordsPerToken: 32,
  /** … and per this many payload bytes sent; `assured:msg`: 1 more token per this many payload bytes. */
  bytesPerToken: 32 * 1024,
});

/** Tokens of an `assured:heads` request for `streams` distinct streams. */
export function headsCost(streams: number): number {
  return Math.max(RATE_COSTS.frame, Math.ceil(streams / RATE_COSTS.streamsPerToken));
}

/** Tokens of an `assured:fetch` that read `records` records and sent `bytes` of payloads. */
export function fetchCost(records: number, bytes: number): number {
  const units = records / RATE_COSTS.recordsPerToken + bytes / RATE_COSTS.bytesPerToken;
  return Math.max(RATE_COSTS.frame, Math.ceil(units));
}

/** Tokens of a subscription's first page of `records` records (0 for none). */
export function replayCost(records: number): number {
  return Math.ceil(Math.max(0, records) / RATE_COSTS.recordsPerToken);
}

/**
 * What an `assured:fetch` of `limit` records reserves when it arrives: the records it may read.
 * Its payload bytes are charged once the reply is known (see `RateLimiter.settle`).
 */
export function fetchReservation(limit: number): number {
  return fetchCost(limit, 0);
}

/**
 * What an answered `assured:fetch` cost: the records the store read for it (those in
 * `(after, after + limit]` it still retained, also when the reply sent fewer because of
 * `maxBatchBytes` or another epoch) and the payload bytes the reply carries. A refusal costs 1.
 */
export function fetchReplyCost(request: FetchRequest, reply: FetchReply): number {
  if (!reply.ok) return RATE_COSTS.frame;
  const from = Math.max(request.after, reply.earliest - 1);
  const read = Math.min(request.limit, Math.max(0, reply.head - from));
  return fetchCost(Math.max(read, reply.records.count), reply.records.bytes);
}

/**
 * What an answered `assured:history` cost, like a fetch: the records the store read for it (at
 * most `limit`, and no more than it retains) and the payload bytes the reply carries.
 */
export function historyReplyCost(request: HistoryRequest, reply: HistoryReply): number {
  if (!reply.ok) return RATE_COSTS.frame;
  const retained = Math.max(0, reply.head - reply.earliest + 1);
  const read = Math.min(request.limit, retained);
  return fetchCost(Math.max(read, reply.records.count), reply.records.bytes);
}

/** Tokens of an `assured:msg` whose payload has `bytes` bytes. */
export function messageCost(bytes: number): number {
  return RATE_COSTS.message + Math.floor(bytes / RATE_COSTS.bytesPerToken);
}

/** The retryable error of a frame beyond its bucket. */
export function rateLimited(): AssuredError {
  return new AssuredError(
    "RATE_LIMITED",
    "this client is over its rate limit (limits.tokensPerSecond); slow down and retry.",
  );
}

/**
 * Most principals whose shared buckets are kept. Beyond it the least recently connected one is
 * dropped (its connected sockets keep sharing their bucket; a new socket of it starts a new
 * one). A bucket that has refilled to `burstTokens` is dropped first: it is the same as a new one.
 */
export const MAX_SHARED_BUCKETS = 10_000;

/** Shared buckets looked at for a refilled one when the map is full. */
const EVICTION_SCAN = 16;

/**
 * The server's rate limiter: token buckets refilled at `tokensPerSecond` up to `burstTokens`.
 * Each socket starts with a bucket of its own; with an `identify` hook, the sockets of one
 * principal share one bucket (so many sockets do not multiply the rate), kept in a bounded map.
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxShared: number;
  readonly #now: () => number;
  /** Shared buckets by principal, least recently connected first. */
  readonly #shared = new Map<string, TokenBucket>();

  constructor(
    limits: Pick<AssuredLimits, "tokensPerSecond" | "burstTokens">,
    options: { maxShared?: number; now?: () => number } = {},
  ) {
    this.#rate = limits.tokensPerSecond;
    this.#burst = limits.burstTokens;
    this.#maxShared = options.maxShared ?? MAX_SHARED_BUCKETS;
    this.#now = options.now ?? (() => performance.now());
  }

  /** A full bucket for a new socket. */
  bucket(): TokenBucket {
    return fullBucket(this.#burst, this.#now());
  }

  /**
   * Admits work of `cost` tokens if the bucket holds them, and takes them; otherwise takes
   * nothing and returns false. A cost beyond `burstTokens` is admitted once the bucket is full,
   * and the rest is owed (the bucket goes into debt), so every frame can pass eventually.
   */
  take(bucket: TokenBucket, cost: number): boolean {
    const now = this.#now();
    const upFront = Math.min(cost, this.#burst);
    if (!takeTokens(bucket, upFront, this.#rate, this.#burst, now)) return false;
    if (cost > upFront) takeOwed(bucket, cost - upFront, this.#rate, this.#burst, now);
    return true;
  }

  /**
   * Admits work whose size the server learned only now (a subscription's first page) while the
   * bucket is not empty, and takes its whole cost, which may put the bucket into debt. Refused
   * (nothing taken) when the bucket is empty or in debt; a cost of 0 always passes.
   */
  charge(bucket: TokenBucket, cost: number): boolean {
    if (cost <= 0) return true;
    const now = this.#now();
    if (availableTokens(bucket, this.#rate, this.#burst, now) <= 0) return false;
    takeOwed(bucket, cost, this.#rate, this.#burst, now);
    return true;
  }

  /**
   * Settles a reservation taken with `take`: gives back what the work did not use, or takes
   * what it used beyond the reservation (work already done: the bucket may go into debt).
   */
  settle(bucket: TokenBucket, reserved: number, used: number): void {
    const now = this.#now();
    if (used < reserved) returnTokens(bucket, reserved - used, this.#rate, this.#burst, now);
    else if (used > reserved) takeOwed(bucket, used - reserved, this.#rate, this.#burst, now);
  }

  /**
   * The bucket a socket of `principal` shares with the principal's other sockets. `own` is the
   * bucket the socket used until its principal was known: what it spent is owed to the shared
   * bucket, so reconnecting does not buy a fresh burst.
   */
  shared(principal: string, own: TokenBucket): TokenBucket {
    const now = this.#now();
    let bucket = this.#shared.get(principal);
    if (bucket === undefined) {
      this.#evict(now);
      bucket = fullBucket(this.#burst, now);
    } else {
      this.#shared.delete(principal); // re-inserted last: most recently connected
    }
    this.#shared.set(principal, bucket);
    if (bucket !== own) {
      const spent = this.#burst - availableTokens(own, this.#rate, this.#burst, now);
      if (spent > 0) takeOwed(bucket, spent, this.#rate, this.#burst, now);
    }
    return bucket;
  }

  /** Principals with a shared bucket (for tests). */
  get sharedCount(): number {
    return this.#shared.size;
  }

  /**
   * Makes room for one more shared bucket: drops the oldest buckets that have refilled (they
   * equal new ones); at the cap, a refilled one among the oldest few, else the oldest.
   */
  #evict(now: number): void {
    for (const [principal, bucket] of this.#shared) {
      if (!this.#refilled(bucket, now)) break;
      this.#shared.delete(principal);
    }
    if (this.#shared.size < this.#maxShared) return;
    let victim: string | undefined;
    let scanned = 0;
    for (const [principal, bucket] of this.#shared) {
      victim ??= principal;
      if (this.#refilled(bucket, now)) {
        victim = principal;
        break;
      }
      if (++scanned === EVICTION_SCAN) break;
    }
    if (victim !== undefined) this.#shared.delete(victim);
  }

  #refilled(bucket: TokenBucket, now: number): boolean {
    return availableTokens(bucket, this.#rate, this.#burst, now) >= this.#burst;
  }
}
