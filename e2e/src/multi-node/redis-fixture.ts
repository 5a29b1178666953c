import { newId } from "@assured/core/store";
import { type RunningService, startRedis } from "@assured/test-services";
import { Redis } from "ioredis";

/** A Redis for one test file: the URL, a key prefix of its own and a client to inspect it. */
export interface RedisFixture {
  url: string;
  /** Unique per fixture, so a shared `REDIS_URL` is safe: stores, handled log, adapter channels. */
  keyPrefix: string;
  /** A client of the test's own, to read what the nodes wrote. */
  watcher: Redis;
  /** Deletes the fixture's keys (on a shared Redis) or stops the Redis it started. */
  stop(): Promise<void>;
}

/**
 * Uses `REDIS_URL` when it is set, else starts a `redis-server` on a free loopback port.
 *
 * @example
 * const redis = await redisFixture("failover");
 * await NodeProcess.start({ store: "redis", redisUrl: redis.url, keyPrefix: redis.keyPrefix, … });
 */
export async function redisFixture(name: string): Promise<RedisFixture> {
  const shared = process.env.REDIS_URL;
  const started: RunningService | undefined = shared ? undefined : await startRedis();
  const url = shared ?? started!.url;
  const keyPrefix = `e2e:${name}:${newId()}:`;
  const watcher = new Redis(url);
  return {
    url,
    keyPrefix,
    watcher,
    async stop() {
      try {
        if (shared) {
          const keys = await watcher.keys(`${keyPrefix}*`);
          if (keys.length > 0) await watcher.del(...keys);
        }
      } finally {
        watcher.disconnect();
        await started?.stop();
      }
    },
  };
}
