import { newId } from "@assured/core";
import { Redis } from "ioredis";
import { inject } from "vitest";

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
