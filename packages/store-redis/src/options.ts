import { AssuredError } from "@assured/core";
import { assertKnownOptions, type Clock, describe, systemClock } from "@assured/core/store";
import type { RedisConnection } from "./connection.js";
import { assertKeyPrefix, DEFAULT_KEY_PREFIX } from "./keys.js";

/** Options shared by `RedisEventStore` and `RedisDedupStore`. */
export interface RedisStoreOptions {
  /**
   * An ioredis `Redis` or `Cluster` client (the store never quits it), or a `redis://` URL or
   * `RedisOptions` for a client the store creates and quits on `close()`.
   */
  redis: RedisConnection;
  /** Prepended to every key (default `"assured:"`); no `{` or `}`. */
  keyPrefix?: string;
  /**
   * Time source in milliseconds; passed to the server with each call. Default: the Redis
   * server's clock (`TIME`, carried forward on the monotonic clock), so every node stamps append
   * times and judges age retention, leases and TTLs alike, whatever its own wall clock says.
   */
  clock?: Clock;
}

/** The option names every Redis store takes; each store adds its own. */
export const COMMON_OPTION_KEYS = [
  "redis",
  "keyPrefix",
  "clock",
] as const satisfies readonly (keyof RedisStoreOptions)[];

/** The validated common options. */
export interface ResolvedStoreOptions {
  redis: unknown;
  keyPrefix: string;
  clock: Clock;
}

/**
 * Throws `INVALID_ARGUMENT` unless `options` is an object whose keys are all in `known` (the
 * option names of `typeName`); returns the common options resolved. The client options passed
 * as `redis` are ioredis's own and are not checked here.
 */
export function resolveStoreOptions(
  options: unknown,
  what: string,
  known: readonly string[],
  typeName: string,
): ResolvedStoreOptions {
  if (typeof options !== "object" || options === null) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `${what} options must be an object such as { redis: "redis://127.0.0.1:6379" }, got ${describe(options)}.`,
    );
  }
  assertKnownOptions(options, known, what, typeName);
  const o = options as Record<string, unknown>;
  const keyPrefix = o.keyPrefix ?? DEFAULT_KEY_PREFIX;
  assertKeyPrefix(keyPrefix);
  const clock = o.clock ?? systemClock;
  if (typeof clock !== "function") {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `clock must be a function returning milliseconds, got ${describe(clock)}.`,
    );
  }
  if (o.redis === undefined || o.redis === null) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      "redis is required: pass an ioredis client, a redis:// URL or ioredis options.",
    );
  }
  return { redis: o.redis, keyPrefix, clock: clock as Clock };
}

/** Reads the clock; `INVALID_ARGUMENT` if it does not return a finite number. */
export function readClock(clock: Clock): number {
  const now = clock();
  if (typeof now !== "number" || !Number.isFinite(now)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `clock() must return milliseconds as a finite number, got ${describe(now)}.`,
    );
  }
  return Math.floor(now);
}
