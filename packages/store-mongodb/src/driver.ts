import { createRequire } from "node:module";
import { loadDriver } from "@assured/core/store";
import type { Binary } from "mongodb";

type MongoDriver = typeof import("mongodb");

let loaded: MongoDriver | undefined;

/**
 * The mongodb module, loaded on first use (it is an optional peer dependency).
 * @throws AssuredError `INVALID_ARGUMENT` saying `npm install mongodb` when it is missing.
 */
export function mongoDriver(): MongoDriver {
  loaded ??= loadDriver(
    "mongodb",
    "@assured/store-mongodb",
    () => createRequire(import.meta.url)("mongodb") as MongoDriver,
  );
  return loaded;
}

/** Wraps bytes as a BSON `Binary` (how payloads are stored). */
export function toBinary(bytes: Uint8Array): Binary {
  return new (mongoDriver().Binary)(bytes);
}
