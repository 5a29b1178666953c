import { createRequire } from "node:module";
import { loadDriver } from "@assured/core/store";
import type pg from "pg";

let loaded: typeof pg | undefined;

/**
 * The pg module, loaded on first use (it is an optional peer dependency).
 * @throws AssuredError `INVALID_ARGUMENT` saying `npm install pg` when it is missing.
 */
export function postgresDriver(): typeof pg {
  loaded ??= loadDriver(
    "pg",
    "@assured/store-postgres",
    () => createRequire(import.meta.url)("pg") as typeof pg,
  );
  return loaded;
}
