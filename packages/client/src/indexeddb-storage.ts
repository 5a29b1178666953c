import { AssuredError } from "@assured/core";
import type { ClientStorage, StorageWrite } from "@assured/core/protocol";
import { assertKnownOptions } from "@assured/core/store";
import { createStore, del, get, promisifyRequest, set, type UseStore } from "idb-keyval";
import { checkWrites } from "./web-storage.js";

/** Options of `indexedDbStorage`. */
export interface IndexedDbStorageOptions {
  /** Name of the IndexedDB database (default `"assured"`). */
  dbName?: string;
  /**
   * Name of the object store in it (default `"kv"`). The store is created with the database,
   * so give each `storeName` its own `dbName`.
   */
  storeName?: string;
}

const OPTION_NAMES = new Set(["dbName", "storeName"]);

/**
 * A `ClientStorage` on IndexedDB (through idb-keyval) — the recommended storage in browsers:
 * `batch` writes several keys in one transaction (all or nothing, also if the page dies
 * mid-way), the quota is a share of the disk rather than Web Storage's ~5 MB, and reads and
 * writes do not block the main thread. The outbox, client id and positions survive reloads
 * and are shared by the pages of an origin that use the same `dbName` and `storeName`.
 *
 * Nothing is opened until the first read or write. Failures reject with `STORE_UNAVAILABLE`
 * (the browser's error as `cause`): a used-up quota, an IndexedDB that is missing or denied
 * (some private modes, sandboxed frames, Node) — there use `webStorage(localStorage)` or
 * `memoryStorage()` instead.
 *
 * @example
 * import { io } from "socket.io-client";
 * import { createAssuredClient, indexedDbStorage } from "@assured/client";
 *
 * const client = createAssuredClient(io({ autoConnect: false }), {
 *   storage: indexedDbStorage(), // database "assured", object store "kv"
 * });
 * await client.connect();
 */
export function indexedDbStorage(options: IndexedDbStorageOptions = {}): ClientStorage {
  assertKnownOptions(options, OPTION_NAMES, "indexedDbStorage", "IndexedDbStorageOptions");
  const dbName = options.dbName ?? "assured";
  const storeName = options.storeName ?? "kv";
  for (const [name, value] of [
    ["dbName", dbName],
    ["storeName", storeName],
  ] as const) {
    if (typeof value !== "string" || value === "") {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `indexedDbStorage ${name} must be a non-empty string.`,
      );
    }
  }

  let useStore: UseStore | undefined;
  /** The idb-keyval store function, created at first use (the database opens lazily too). */
  const store = (): UseStore => {
    if (useStore !== undefined) return useStore;
    if (typeof indexedDB === "undefined" || indexedDB === null) {
      throw new AssuredError(
        "STORE_UNAVAILABLE",
        "indexedDbStorage: IndexedDB is not available here (not a browser, or disabled). " +
          "Use webStorage(localStorage) or memoryStorage() instead.",
      );
    }
    const opened = createStore(dbName, storeName);
    // Let other tabs upgrade or delete the database: close our connection when asked and
    // open a fresh one at the next use, instead of blocking them for the page's lifetime.
    const created: UseStore = (mode, callback) =>
      opened(mode, (objectStore) => {
        const db = objectStore.transaction.db;
        db.onversionchange = () => {
          db.close();
          if (useStore === created) useStore = undefined;
        };
        return callback(objectStore);
      });
    useStore = created;
    return created;
  };

  /** Runs one operation, turning every failure into `STORE_UNAVAILABLE` with a fix. */
  const run = async <T>(what: string, operation: (s: UseStore) => Promise<T>): Promise<T> => {
    try {
      return await operation(store());
    } catch (error) {
      throw storageError(error, what, dbName, storeName);
    }
  };

  const checkKey = (key: unknown): void => {
    if (typeof key !== "string") {
      throw new AssuredError("INVALID_ARGUMENT", "indexedDbStorage keys must be strings.");
    }
  };

  return {
    get: async (key) => {
      checkKey(key);
      const value = await run(`read ${JSON.stringify(key)}`, (s) => get<unknown>(key, s));
      if (value === undefined) return null;
      if (typeof value !== "string") {
        throw new AssuredError(
          "STORE_UNAVAILABLE",
          `indexedDbStorage: ${JSON.stringify(key)} in "${dbName}"/"${storeName}" holds a ` +
            `${typeof value}, not a string: other code writes to this object store. Give ` +
            "Assured its own dbName.",
        );
      }
      return value;
    },
    set: async (key, value) => {
      checkKey(key);
      if (typeof value !== "string") {
        throw new AssuredError("INVALID_ARGUMENT", "indexedDbStorage values must be strings.");
      }
      await run(`write ${JSON.stringify(key)}`, (s) => set(key, value, s));
    },
    remove: async (key) => {
      checkKey(key);
      await run(`remove ${JSON.stringify(key)}`, (s) => del(key, s));
    },
    batch: async (writes: readonly StorageWrite[]) => {
      checkWrites(writes);
      if (writes.length === 0) return;
      await run(`apply a batch of ${writes.length} writes`, (s) =>
        s("readwrite", (objectStore) => {
          const done = promisifyRequest(objectStore.transaction);
          try {
            for (const { key, value } of writes) {
              if (value === null) objectStore.delete(key);
              else objectStore.put(value, key);
            }
          } catch (error) {
            // A request that cannot even be queued: abort, so the writes before it are dropped.
            done.catch(() => {});
            objectStore.transaction.abort();
            throw error;
          }
          return done;
        }),
      );
    },
  };
}

/** Wraps an IndexedDB failure as `STORE_UNAVAILABLE`, saying what failed and what helps. */
function storageError(
  error: unknown,
  what: string,
  dbName: string,
  storeName: string,
): AssuredError {
  if (error instanceof AssuredError) return error;
  const name =
    typeof error === "object" && error !== null && "name" in error ? String(error.name) : "";
  const reason = error instanceof Error ? error.message : String(error);
  const where = `"${dbName}"/"${storeName}"`;
  let fix: string;
  switch (name) {
    case "QuotaExceededError":
      fix =
        "the origin's storage quota is used up: free space (remove old data of this origin), " +
        "ask for more with navigator.storage.persist(), or keep fewer pending messages";
      break;
    case "NotFoundError":
      fix = `database "${dbName}" exists without object store "${storeName}" (it was created with another storeName): give each storeName its own dbName`;
      break;
    case "VersionError":
    case "AbortError":
    case "InvalidStateError":
      fix =
        "the database was closed, upgraded or deleted meanwhile (another tab?), or the " +
        "transaction was aborted: retry; if it persists, reload the page";
      break;
    case "SecurityError":
    case "InvalidAccessError":
    case "UnknownError":
      fix =
        "IndexedDB is unavailable in this context (private browsing, storage disabled, a " +
        "sandboxed frame, or a disk error): use webStorage(localStorage) or memoryStorage() " +
        "instead";
      break;
    default:
      fix = "IndexedDB may be unavailable or the disk full: retry later, or use another storage";
  }
  return new AssuredError(
    "STORE_UNAVAILABLE",
    `indexedDbStorage could not ${what} in ${where}: ${name ? `${name}: ` : ""}${reason}. Fix: ${fix}.`,
    { cause: error },
  );
}
