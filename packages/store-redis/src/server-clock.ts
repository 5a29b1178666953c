import { type Clock, ServerClock } from "@assured/core/store";
import { toRedisStoreError } from "./connection.js";
import { readClock } from "./options.js";

/**
 * The Redis server's clock (`TIME`), by which the Redis stores judge leases, TTLs, append times
 * and age retention unless they are given a `clock`; see `ServerClock`. With Redis Cluster,
 * `TIME` is read from one node.
 */
export function redisServerClock(client: { time(): Promise<(string | number)[]> }): ServerClock {
  return new ServerClock(async () => {
    const [seconds, micros] = await client.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  });
}

/**
 * A Redis store's time now: the injected `clock` when there is one (`server` undefined), else the
 * server's (`STORE_UNAVAILABLE` when its first read fails).
 */
export async function storeNow(
  server: ServerClock | undefined,
  clock: Clock,
  operation: string,
): Promise<number> {
  if (server === undefined) return readClock(clock);
  try {
    return await server.now();
  } catch (error) {
    throw toRedisStoreError(error, operation);
  }
}
