import type { ClientStorage } from "@assured/client/browser";

/**
 * Wraps the Assured client's storage to call `written` after each write. The outbox writes a
 * message before it counts it as pending, so a listener can refresh a pending count then.
 */
export function notifyingStorage(inner: ClientStorage, written: () => void): ClientStorage {
  const storage: ClientStorage = {
    get: (key) => inner.get(key),
    set: (key, value) => inner.set(key, value).finally(written),
    remove: (key) => inner.remove(key).finally(written),
  };
  // Keep the inner storage's atomic batches (the outbox commits a message and its session
  // record together with them).
  const batch = inner.batch?.bind(inner);
  if (batch) storage.batch = (writes) => batch(writes).finally(written);
  return storage;
}
