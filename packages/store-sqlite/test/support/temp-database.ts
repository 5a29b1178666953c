import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";

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

/** A test's temp database file and the stores opened on it; see `useTempStores`. */
export interface TempStores<S, A extends unknown[]> {
  /** Path of this test's database file. */
  readonly path: string;
  /** Opens a store on this test's file; it is closed after the test. */
  open(...args: A): S;
}

/**
 * Registers the hooks of a suite whose tests open stores on one temp file each: a fresh file
 * before each test; after it, every store `open` made is closed and the file removed.
 */
export function useTempStores<S extends { close(): Promise<void> }, A extends unknown[]>(
  make: (path: string, ...args: A) => S,
): TempStores<S, A> {
  let temp: TempDatabase | undefined;
  const stores: S[] = [];
  beforeEach(() => {
    temp = tempDatabase();
  });
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    temp?.remove();
    temp = undefined;
  });
  const path = () => {
    if (temp === undefined) throw new Error("the temp database exists only during a test");
    return temp.path;
  };
  return {
    get path() {
      return path();
    },
    open(...args) {
      const store = make(path(), ...args);
      stores.push(store);
      return store;
    },
  };
}
