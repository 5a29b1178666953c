// A Web Storage object (`localStorage`'s interface) held in memory: what the bench's
// "web storage" clients persist to through `webStorage()`, so the cost of the persisted format
// (JSON strings per key, written synchronously) is measured without a browser.
import { webStorage } from "@assured/client";
import type { ClientStorage } from "@assured/core/protocol";

/** `Storage` (the Web Storage API) backed by a Map: string keys, string values. */
export class MemoryWebStorage {
  readonly #items = new Map<string, string>();

  get length(): number {
    return this.#items.size;
  }

  key(index: number): string | null {
    return [...this.#items.keys()][index] ?? null;
  }

  getItem(key: string): string | null {
    return this.#items.get(key) ?? null;
  }

  setItem(key: string, value: string): void {
    this.#items.set(String(key), String(value));
  }

  removeItem(key: string): void {
    this.#items.delete(key);
  }

  clear(): void {
    this.#items.clear();
  }
}

/** A client storage in the localStorage format, on a fresh in-memory Storage object. */
export function memoryWebStorage(): ClientStorage {
  return webStorage(new MemoryWebStorage());
}
