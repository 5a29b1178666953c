import { createRequire } from "node:module";
import { loadDriver } from "@assured/core/store";

type IoRedis = typeof import("ioredis");

let loaded: IoRedis | undefined;

/**
 * The ioredis module, loaded on first use (it is an optional peer dependency).
 * @throws AssuredError `INVALID_ARGUMENT` saying `npm install ioredis` when it is missing.
 */
export function redisDriver(): IoRedis {
  loaded ??= loadDriver(
    "ioredis",
    "@assured/store-redis",
    () => createRequire(import.meta.url)("ioredis") as IoRedis,
  );
  return loaded;
}
