import type { StoredResponse } from "./dedup-store.js";
import type { MemoryStreamLog } from "./memory-stream-log.js";

/** A dedup key's state in memory: held under a lease, or done with a stored response. */
export type MemoryClaim =
  | { state: "leased"; fingerprint: string; token: string; leaseExpiresAt: number }
  | { state: "done"; fingerprint: string; response: StoredResponse; expiresAt: number };

/**
 * The data behind the in-memory stores. Stores given the same backend behave like several
 * connections to one database: they see each other's appends, epochs and claims, and a new
 * store on a backend sees everything written before (a "restart" of a process that kept its
 * memory). Treat it as opaque; create one with `createMemoryBackend()`.
 */
export interface MemoryBackend {
  /** Stream logs by stream name. */
  readonly streams: Map<string, MemoryStreamLog>;
  /** Dedup keys by key. */
  readonly claims: Map<string, MemoryClaim>;
}

/**
 * Creates an empty backend to share between `MemoryEventStore` and `MemoryDedupStore` instances.
 *
 * @example
 * const backend = createMemoryBackend();
 * const a = new MemoryEventStore({ backend });
 * const b = new MemoryEventStore({ backend }); // sees what `a` appends
 */
export function createMemoryBackend(): MemoryBackend {
  return { streams: new Map(), claims: new Map() };
}
