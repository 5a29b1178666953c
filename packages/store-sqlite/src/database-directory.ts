import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { AssuredError } from "@assured/core";

/**
 * Creates the directory of a database file path if it is missing (like `mkdir -p`), so a first
 * run with `path: "./data/assured.sqlite"` works. `":memory:"` has none.
 * @throws AssuredError `INVALID_ARGUMENT` naming the path and the system's reason when the
 * directory cannot be created (a parent is a file, no permission…).
 */
export function ensureDirectoryOf(path: string): void {
  if (path === ":memory:") return;
  const directory = dirname(path);
  try {
    mkdirSync(directory, { recursive: true });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `cannot create the directory ${JSON.stringify(directory)} of path ${JSON.stringify(path)}: ${reason}. Give a path in a directory that exists or can be created.`,
      { cause: error },
    );
  }
}
