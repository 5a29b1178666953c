import {
  assertRetryPolicy,
  DEFAULT_RETRY_POLICY,
  type RandomSource,
  type RetryPolicy,
} from "./backoff.js";
import { type ClientLocks, isWebLocks, locksFor } from "./client-locks.js";
import { type ClientStorage, memoryStorage } from "./client-storage.js";
import { AssuredError } from "./errors.js";
import {
  DEFAULT_TIMERS,
  defaultChannel,
  type OutboxChannel,
  type OutboxTimers,
} from "./outbox-adoption.js";
import { assertId, assertPositiveInteger, describe } from "./validate.js";

/** Options of an `Outbox`. */
export interface OutboxOptions {
  /** Where the outbox persists (default: memory, nothing survives a reload). */
  storage?: ClientStorage;
  /** Prefix of every storage key (default `"assured:"`). */
  prefix?: string;
  /** The client id; default: the stored one, else a new one (stored for the other sessions). */
  clientId?: string;
  /**
   * Messages in flight at once (default 128). A client sends at most this many per round trip,
   * so over a 10 ms link 32 capped it near 3,200 messages a second.
   */
  window?: number;
  /**
   * Unanswered messages kept at most; `add` beyond rejects with `LIMIT_EXCEEDED` (default 1000).
   * Messages adopted from orphaned sessions are taken even beyond it.
   */
  maxPending?: number;
  /** A message unanswered this long is sent again (default 10,000 ms). */
  ackTimeoutMs?: number;
  /** Backoff before a retry (default 500 ms doubling up to 30 s, full jitter). */
  retry?: RetryPolicy;
  /** Random source of the jitter (default `Math.random`). */
  random?: RandomSource;
  /** Stored results kept per session (default 100). */
  maxResults?: number;
  /** How long results are kept (default 24 h). */
  resultTtlMs?: number;
  /**
   * Largest stored form of one result, in bytes (default 64 KiB). A larger result is kept in
   * full only in this outbox's memory; storage gets `omitted: true` without the value.
   */
  maxResultBytes?: number;
  /**
   * Largest encoded payload `add` accepts, in bytes (default `DEFAULT_MAX_PAYLOAD_BYTES`, the
   * server's default limit). A larger message is refused before it is stored; one stored by an
   * earlier page life with a larger limit is finished with `PAYLOAD_TOO_LARGE` when loaded.
   */
  maxPayloadBytes?: number;
  /**
   * The sender's limit on a message's age, sent as `ttl` with every frame: the server answers
   * `EXPIRED` instead of running a message older than this (default: only the server's window).
   */
  messageTtlMs?: number;
  /**
   * The locks shared by the outboxes of this storage (default `locksFor(storage)`: Web Locks in
   * browsers, else in-process locks per storage object).
   */
  locks?: ClientLocks;
  /**
   * The channel on which outboxes of this storage announce new sessions (default: a
   * `BroadcastChannel` named `assured:<prefix>` when the runtime has one). `null`: none; the
   * session index is re-read every `adoptIntervalMs` instead.
   */
  channel?: ((name: string) => OutboxChannel | undefined) | null;
  /**
   * How often the session index is re-read to find sessions to watch (default 30,000 ms): the
   * only way to learn of new sessions without a channel, a safety net with one.
   */
  adoptIntervalMs?: number;
  /**
   * How long `open` waits for a session that is still locked by its owner before treating it
   * as alive, in ms (0: not at all). Default: `DEFAULT_ADOPT_GRACE_MS` (1000) with the
   * runtime's Web Locks, else 0.
   *
   * Why: browsers release the Web Lock of a page that closed or reloaded asynchronously, so the
   * next page may find the old page's session still locked. Adopted later, the old page's
   * messages would get seqs after messages the new page already added (send order, G10, broken
   * across the reload). Within the grace `open` adopts them first.
   *
   * The trade-off: while another session of the storage is genuinely alive (another tab), `open`
   * takes up to this long (once, however many sessions are alive; a session released sooner
   * ends its wait at once). In-process locks (`memoryLocks`, the default without Web Locks)
   * release synchronously and need no grace; for other custom locks that release a dead owner's
   * lock late, set it.
   */
  adoptGraceMs?: number;
  /**
   * The timers of the index re-read, of adoption retries and of the grace (default the global
   * `setTimeout`, not keeping Node alive).
   */
  timers?: OutboxTimers;
  /** The time of work the outbox does by itself: adopting sessions orphaned while open (default `Date.now`). */
  clock?: () => number;
  /**
   * Called (synchronously, must not throw) when messages adopted from an orphaned session
   * became pending while open: send what is `due`. Messages adopted by `open` are simply pending
   * when it resolves.
   */
  onChange?: () => void;
  /** Called when a background storage write fails or stored data was unreadable. */
  onStorageError?: (error: AssuredError) => void;
}

/** The options with their defaults, checked. */
export type OutboxConfig = Required<
  Omit<OutboxOptions, "clientId" | "messageTtlMs" | "channel">
> & {
  clientId: string | undefined;
  messageTtlMs: number | undefined;
  channel: (name: string) => OutboxChannel | undefined;
};

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The default largest message payload, in bytes: the server's default `maxPayloadBytes`, well
 * inside Socket.IO's default `maxHttpBufferSize` (1 MB), beyond which a packet drops the
 * connection instead of getting an answer.
 */
export const DEFAULT_MAX_PAYLOAD_BYTES = 512 * 1024;

/** Messages a client has in flight at once by default (`window`). */
export const DEFAULT_WINDOW = 128;

/** The default `adoptGraceMs` with the runtime's Web Locks, in ms. */
export const DEFAULT_ADOPT_GRACE_MS = 1000;

/** The default largest stored result, in bytes. */
export const DEFAULT_MAX_RESULT_BYTES = 64 * 1024;

/** Applies defaults and checks every option. @throws AssuredError `INVALID_ARGUMENT`. */
export function outboxConfig(options: OutboxOptions): OutboxConfig {
  if (typeof options !== "object" || options === null) {
    throw new AssuredError("INVALID_ARGUMENT", "outbox options must be an object.");
  }
  const storage = options.storage ?? memoryStorage();
  const locks = options.locks ?? locksFor(storage);
  const config: OutboxConfig = {
    storage,
    prefix: options.prefix ?? "assured:",
    clientId: options.clientId,
    window: options.window ?? DEFAULT_WINDOW,
    maxPending: options.maxPending ?? 1000,
    ackTimeoutMs: options.ackTimeoutMs ?? 10_000,
    retry: options.retry ?? { ...DEFAULT_RETRY_POLICY },
    random: options.random ?? Math.random,
    maxResults: options.maxResults ?? 100,
    resultTtlMs: options.resultTtlMs ?? DAY_MS,
    maxResultBytes: options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES,
    maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    messageTtlMs: options.messageTtlMs,
    locks,
    channel: options.channel === null ? () => undefined : (options.channel ?? defaultChannel),
    adoptIntervalMs: options.adoptIntervalMs ?? 30_000,
    adoptGraceMs: options.adoptGraceMs ?? (isWebLocks(locks) ? DEFAULT_ADOPT_GRACE_MS : 0),
    timers: options.timers ?? DEFAULT_TIMERS,
    clock: options.clock ?? Date.now,
    onChange: options.onChange ?? (() => {}),
    onStorageError: options.onStorageError ?? (() => {}),
  };
  if (config.clientId !== undefined) assertId(config.clientId, "clientId");
  if (typeof config.prefix !== "string") {
    throw new AssuredError("INVALID_ARGUMENT", "prefix must be a string.");
  }
  for (const [name, methods] of [
    ["storage", ["get", "set", "remove"]],
    ["locks", ["request"]],
    ["timers", ["setTimeout", "clearTimeout"]],
  ] as const) {
    const value = config[name] as unknown as Record<string, unknown>;
    if (
      typeof value !== "object" ||
      value === null ||
      methods.some((m) => typeof value[m] !== "function")
    ) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `${name} must have the methods ${methods.join(", ")}.`,
      );
    }
  }
  for (const name of [
    "window",
    "maxPending",
    "ackTimeoutMs",
    "maxResults",
    "resultTtlMs",
    "maxResultBytes",
    "maxPayloadBytes",
    "adoptIntervalMs",
  ] as const) {
    assertPositiveInteger(config[name], name);
  }
  if (config.messageTtlMs !== undefined) assertPositiveInteger(config.messageTtlMs, "messageTtlMs");
  const grace = config.adoptGraceMs;
  if (typeof grace !== "number" || !Number.isSafeInteger(grace) || grace < 0) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `adoptGraceMs must be a non-negative integer, got ${describe(grace)}.`,
    );
  }
  assertRetryPolicy(config.retry);
  for (const name of ["random", "channel", "clock", "onChange", "onStorageError"] as const) {
    if (typeof config[name] !== "function") {
      throw new AssuredError("INVALID_ARGUMENT", `${name} must be a function.`);
    }
  }
  return config;
}
