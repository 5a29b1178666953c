import { AssuredError } from "@assured/core";
import type { ClientStorage, StorageWrite } from "@assured/core/protocol";

/** The part of the Web Storage API (`localStorage`, `sessionStorage`) the adapter uses. */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Options of `webStorage`. */
export interface WebStorageOptions {
  /** Prefix of every key, to share one origin's storage between apps (default `""`). */
  prefix?: string;
}

/**
 * A `ClientStorage` on Web Storage: with `localStorage` the outbox, client id and positions
 * survive a page reload. Quota errors reject the write (`STORE_UNAVAILABLE`), so an `emit`
 * that cannot be persisted fails instead of being silently volatile.
 *
 * `batch` applies its writes in order and, if one fails (a quota error), puts back the values
 * the earlier writes replaced before rejecting: all or nothing within this page. Web Storage is
 * synchronous and limited to about 5 MB per origin; prefer `indexedDbStorage()` in browsers.
 *
 * @example
 * const client = createAssuredClient(socket, { storage: webStorage(localStorage, { prefix: "chat:" }) });
 */
export function webStorage(
  storage: WebStorageLike,
  options: WebStorageOptions = {},
): ClientStorage {
  if (
    typeof storage !== "object" ||
    storage === null ||
    typeof storage.getItem !== "function" ||
    typeof storage.setItem !== "function" ||
    typeof storage.removeItem !== "function"
  ) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      "webStorage needs a Web Storage object such as localStorage.",
    );
  }
  const prefix = options.prefix ?? "";
  if (typeof prefix !== "string") {
    throw new AssuredError("INVALID_ARGUMENT", "webStorage prefix must be a string.");
  }
  const wrap = <T>(operation: string, key: string, run: () => T): Promise<T> => {
    try {
      return Promise.resolve(run());
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return Promise.reject(
        new AssuredError(
          "STORE_UNAVAILABLE",
          `web storage could not ${operation} ${JSON.stringify(key)}: ${reason}`,
          {
            cause: error,
          },
        ),
      );
    }
  };
  const batch = (writes: readonly StorageWrite[]): Promise<void> => {
    try {
      checkWrites(writes);
    } catch (error) {
      return Promise.reject(error);
    }
    // Synchronous from first write to last rollback, so no other code of this page sees a
    // partial batch. Each write records the value it replaces; on failure they are restored
    // in reverse order, which passes only through states that existed, so within the quota.
    const undo: { key: string; previous: string | null }[] = [];
    for (const { key, value } of writes) {
      const full = prefix + key;
      try {
        undo.push({ key: full, previous: storage.getItem(full) });
        if (value === null) storage.removeItem(full);
        else storage.setItem(full, value);
      } catch (error) {
        const rollbackErrors: unknown[] = [];
        for (let i = undo.length - 1; i >= 0; i--) {
          const { key: undoKey, previous } = undo[i]!;
          try {
            if (previous === null) storage.removeItem(undoKey);
            else storage.setItem(undoKey, previous);
          } catch (rollbackError) {
            rollbackErrors.push(rollbackError);
          }
        }
        const reason = error instanceof Error ? error.message : String(error);
        const outcome =
          rollbackErrors.length === 0
            ? "nothing of the batch was kept"
            : `restoring the earlier values also failed for ${rollbackErrors.length} key(s), so the batch may be partly applied`;
        return Promise.reject(
          new AssuredError(
            "STORE_UNAVAILABLE",
            `web storage could not ${value === null ? "remove" : "write"} ${JSON.stringify(key)} ` +
              `in a batch of ${writes.length} writes: ${reason}; ${outcome}. Free space ` +
              "(Web Storage holds about 5 MB per origin) or use indexedDbStorage().",
            { cause: error },
          ),
        );
      }
    }
    return Promise.resolve();
  };
  return {
    batch,
    get: (key) => wrap("read", key, () => storage.getItem(prefix + key)),
    set: (key, value) => wrap("write", key, () => storage.setItem(prefix + key, value)),
    remove: (key) => wrap("remove", key, () => storage.removeItem(prefix + key)),
  };
}

/** Throws `INVALID_ARGUMENT` unless `writes` is an array of `{ key: string, value: string | null }`. */
export function checkWrites(writes: unknown): asserts writes is readonly StorageWrite[] {
  if (!Array.isArray(writes)) {
    throw new AssuredError("INVALID_ARGUMENT", "batch needs an array of { key, value } writes.");
  }
  for (const write of writes as unknown[]) {
    const { key, value } = (write ?? {}) as { key?: unknown; value?: unknown };
    if (typeof key !== "string" || (value !== null && typeof value !== "string")) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        "each batch write must be { key: string, value: string | null }.",
      );
    }
  }
}
