import type { ClientStorage } from "@assured/core/protocol";

/**
 * The test page of the browser storage tests. It loads the bundled client and exposes its
 * storages on `window.assuredStorage`, with `settle`, which turns a promise into plain data
 * (an `AssuredError` does not cross `page.evaluate` whole), and `raw`, direct IndexedDB reads
 * that bypass the adapter.
 */
export const STORAGE_PAGE = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>assured storage e2e</title></head>
<body>
<script type="module">
import { indexedDbStorage, webStorage } from "/assured-client.js";
const settle = (promise) =>
  Promise.resolve(promise).then(
    (value) => ({ ok: true, value: value === undefined ? null : value }),
    (error) => ({
      ok: false,
      code: error && error.code,
      message: String(error && error.message),
      causeName: error && error.cause ? String(error.cause.name) : null,
    }),
  );
const request = (r) =>
  new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
const raw = {
  databases: async () => (await indexedDB.databases()).map((d) => d.name).sort(),
  // Reads keys in ONE readonly transaction: a consistent snapshot of the object store.
  snapshot: async (dbName, storeName, keys) => {
    const db = await request(indexedDB.open(dbName));
    try {
      const store = db.transaction(storeName, "readonly").objectStore(storeName);
      const values = await Promise.all(keys.map((key) => request(store.get(key))));
      return values.map((v) => (v === undefined ? null : v));
    } finally {
      db.close();
    }
  },
  deleteDatabase: (dbName) =>
    new Promise((resolve, reject) => {
      const r = indexedDB.deleteDatabase(dbName);
      r.onsuccess = () => resolve("deleted");
      r.onerror = () => reject(r.error);
      r.onblocked = () => resolve("blocked");
    }),
};
window.assuredStorage = { indexedDbStorage, webStorage, settle, raw, ready: true };
</script>
</body>
</html>`;

/**
 * A page meant for a sandboxed frame (`sandbox="allow-scripts"`: an opaque origin, where
 * Chromium denies IndexedDB). It tries `indexedDbStorage()` and posts the settled result to
 * its parent. Its module import is cross-origin, so the bundle must be served with CORS.
 */
export function sandboxedStorageFrame(bundleUrl: string): string {
  return `<!doctype html>
<html>
<body>
<script type="module">
import { indexedDbStorage } from ${JSON.stringify(bundleUrl)};
const storage = indexedDbStorage();
storage.set("k", "v").then(
  () => parent.postMessage({ ok: true }, "*"),
  (error) =>
    parent.postMessage(
      { ok: false, code: error.code, message: error.message, causeName: error.cause ? error.cause.name : null },
      "*",
    ),
);
</script>
</body>
</html>`;
}

/** What `settle` returns. */
export type Settled<T = unknown> =
  | { ok: true; value: T }
  | { ok: false; code: string | undefined; message: string; causeName: string | null };

/** What the storage page exposes on `window.assuredStorage`. */
export interface StoragePageApi {
  indexedDbStorage(options?: { dbName?: string; storeName?: string }): ClientStorage;
  webStorage(storage: Storage, options?: { prefix?: string }): ClientStorage;
  settle<T>(promise: Promise<T>): Promise<Settled<T>>;
  raw: {
    databases(): Promise<string[]>;
    snapshot(dbName: string, storeName: string, keys: string[]): Promise<(string | null)[]>;
    deleteDatabase(dbName: string): Promise<"deleted" | "blocked">;
  };
  ready: boolean;
}
