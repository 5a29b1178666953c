import type { StoredResponse } from "./dedup-store.js";
import type { MemoryStreamLog } from "./memory-stream-log.js";

/**
 * A dedup key's state in memory: held under a lease, or done with a stored response; `owner` is
 * the id of the claim's owner, when it had one; `fencingToken` the fencing token of the key's
 * latest claim. A released key stays as a lease that expired at its release, with an empty
 * token (no caller's token matches it) and no owner, so its next claim continues the count.
 */
export type MemoryClaim =
  | {
      state: "leased";
      fingerprint: string;
      token: string;
      leaseExpiresAt: number;
      fencingToken: number;
      owner?: string;
    }
  | {
      state: "done";
      fingerprint: string;
      response: StoredResponse;
      expiresAt: number;
      fencingToken: number;
      owner?: string;
    };

/**
 * One owner's dedup entries in memory: how many the claims map holds (expired ones not yet
 * swept included), and a min-heap of their expiry times so a claim at the quota drops the
 * expired ones without scanning (see `MemoryDedupOwners`).
 */
export interface MemoryOwnerEntries {
  count: number;
  heap: { expiresAt: number; key: string }[];
}

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
  /** Per-owner counts of dedup keys, by owner id (only owners holding at least one key). */
  readonly owners: Map<string, MemoryOwnerEntries>;
  /** Set while the backend is broken by `breakMemoryBackend`: the cause its stores report. */
  outage?: Error | undefined;
}

/** An outage of a memory backend made by `breakMemoryBackend`, until `restore`. */
export interface MemoryBackendOutage {
  /** Ends the outage: the stores on the backend work again, on the same data. Idempotent. */
  restore(): void;
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
  return { streams: new Map(), claims: new Map(), owners: new Map() };
}

/**
 * Simulates an outage of `backend`, to test how an application copes with a store that is down:
 * until `restore()`, every call of every store on it (but `close`) rejects with
 * `STORE_UNAVAILABLE`, reading and writing nothing; afterwards they work again on the same data.
 * The error's `cause` says the outage was simulated.
 *
 * @example
 * const backend = createMemoryBackend();
 * const store = new MemoryEventStore({ backend });
 * const outage = breakMemoryBackend(backend);
 * await store.append("s", entries).catch((e) => e.code); // "STORE_UNAVAILABLE"
 * outage.restore();
 */
export function breakMemoryBackend(backend: MemoryBackend): MemoryBackendOutage {
  const cause = new Error("the memory backend is down (simulated by breakMemoryBackend)");
  backend.outage = cause;
  return {
    restore() {
      if (backend.outage === cause) backend.outage = undefined;
    },
  };
}
