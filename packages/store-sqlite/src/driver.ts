import { createRequire } from "node:module";
import { loadDriver } from "@assured/core/store";
import type BetterSqlite3 from "better-sqlite3";

let loaded: typeof BetterSqlite3 | undefined;

/**
 * The better-sqlite3 `Database` class, loaded on first use (it is an optional peer dependency).
 * @throws AssuredError `INVALID_ARGUMENT` saying `npm install better-sqlite3` when it is missing.
 */
export function sqliteDriver(): typeof BetterSqlite3 {
  loaded ??= loadDriver(
    "better-sqlite3",
    "@assured/store-sqlite",
    () => createRequire(import.meta.url)("better-sqlite3") as typeof BetterSqlite3,
  );
  return loaded;
}
