/**
 * The small async key–value interface the client persists through: the outbox, the client id
 * and stream positions. Adapters exist for memory and Web Storage (`localStorage`); anything
 * else (IndexedDB, React Native AsyncStorage, a file) fits in three methods. Values are strings.
 *
 * @example
 * const storage: ClientStorage = {
 *   get: async (key) => (await AsyncStorage.getItem(key)) ?? null,
 *   set: (key, value) => AsyncStorage.setItem(key, value),
 *   remove: (key) => AsyncStorage.removeItem(key),
 * };
 */
export interface ClientStorage {
  /** The stored value, or null if none. */
  get(key: string): Promise<string | null>;
  /** Stores a value; resolves once it is durable as far as the backend goes. */
  set(key: string, value: string): Promise<void>;
  /** Deletes a value (no error if absent). */
  remove(key: string): Promise<void>;
  /**
   * Optional: applies several writes atomically — all of them or none (`value: null` deletes
   * the key). When present the outbox commits a message, its session record and its result in
   * one step; without it they are written one at a time in an order that is safe after a crash.
   */
  batch?(writes: readonly StorageWrite[]): Promise<void>;
}

/** One write of a `ClientStorage.batch`: a value to store, or `null` to delete the key. */
export interface StorageWrite {
  key: string;
  value: string | null;
}

/**
 * A `ClientStorage` in memory: nothing survives the process or page. Pass the same instance to
 * a new client to simulate a reload in tests.
 */
export function memoryStorage(): ClientStorage & { readonly size: number } {
  const data = new Map<string, string>();
  return {
    batch: async (writes) => {
      for (const { key, value } of writes) {
        if (value === null) data.delete(key);
        else data.set(key, value);
      }
    },
    get: async (key) => data.get(key) ?? null,
    set: async (key, value) => {
      data.set(key, value);
    },
    remove: async (key) => {
      data.delete(key);
    },
    get size() {
      return data.size;
    },
  };
}
