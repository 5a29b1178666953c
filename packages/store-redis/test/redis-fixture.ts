import { newId } from "@assured/core/store";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, inject } from "vitest";

/** The URL of the Redis the tests run against (see global-setup.ts). */
export function redisUrl(): string {
  return inject("redisUrl");
}

/** A key prefix no other test uses, so cases never see each other's data. */
export function isolatedPrefix(): string {
  return `test:${newId()}:`;
}

/** A fresh ioredis connection to the test Redis; close it with `quit()`. */
export function connect(): Redis {
  return new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
}

/** Deletes every key under `prefix` (SCAN + UNLINK, so other tests' keys are untouched). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== "0");
}

/** Stores opened on one test's own key prefix; see `useIsolatedStores`. */
export interface IsolatedStores<S, O> {
  /** Opens a store on this test's prefix (the same prefix for every store of one test). */
  open(options?: O): S;
  /** This test's key prefix (set by its first `open`). */
  readonly prefix: string;
  /** A connection of the test file's own, to inspect keys directly. */
  readonly redis: Redis;
}

/**
 * Registers the hooks of a test file whose cases open stores on a private key prefix: one
 * inspecting connection per file; after each test, its stores are closed and its keys deleted.
 */
export function useIsolatedStores<S extends { close(): Promise<void> }, O>(
  create: (keyPrefix: string, options: O | undefined) => S,
): IsolatedStores<S, O> {
  let redis: Redis | undefined;
  let prefix: string | undefined;
  const opened: S[] = [];
  beforeAll(() => {
    redis = connect();
  });
  afterAll(async () => {
    await redis?.quit();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
    if (prefix !== undefined && redis !== undefined) await deleteKeys(redis, prefix);
    prefix = undefined;
  });
  return {
    open(options) {
      prefix ??= isolatedPrefix();
      const store = create(prefix, options);
      opened.push(store);
      return store;
    },
    get prefix() {
      if (prefix === undefined) throw new Error("open a store before reading its prefix");
      return prefix;
    },
    get redis() {
      if (redis === undefined) throw new Error("the connection opens in beforeAll");
      return redis;
    },
  };
}

/** Awaits `promise` and returns what it rejected with; fails the test if it resolved. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}
