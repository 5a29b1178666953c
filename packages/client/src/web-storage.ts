import { AssuredError, type ClientStorage } from "@assured/core";

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
  return {
    get: (key) => wrap("read", key, () => storage.getItem(prefix + key)),
    set: (key, value) => wrap("write", key, () => storage.setItem(prefix + key, value)),
    remove: (key) => wrap("remove", key, () => storage.removeItem(prefix + key)),
  };
}
