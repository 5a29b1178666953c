import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh directory for one test's database files, removed by `remove()`. */
export interface TempDatabase {
  /** Path of the database file (not created yet). */
  path: string;
  remove(): void;
}

/** Makes a temp directory and names a database file in it. */
export function tempDatabase(): TempDatabase {
  const dir = mkdtempSync(join(tmpdir(), "assured-sqlite-"));
  return {
    path: join(dir, "assured.sqlite"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
