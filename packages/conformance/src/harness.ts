import type { Clock, DedupStore, EventStore, Retention } from "@assured/core";

/** What the kit passes when it asks a harness for an event store. */
export interface EventStoreFactoryOptions {
  /** The store must read append times and judge age retention with this clock. */
  clock: Clock;
  /** Retention the store must apply; the kit passes it only in retention cases. */
  retention?: Retention;
}

/**
 * How the kit gets event stores. Each case calls `create` for fresh, empty, isolated data and
 * closes every store it opened when it ends.
 *
 * @example
 * const harness: EventStoreHarness = {
 *   create: async ({ clock, retention }) => new MemoryEventStore({ clock, retention, backend: createMemoryBackend() }),
 * };
 */
export interface EventStoreHarness {
  /** A new store on fresh, empty, isolated data, using `clock` for append times and age retention. */
  create(options: EventStoreFactoryOptions): Promise<EventStore>;
  /**
   * Another instance on the SAME data as `store` (another connection or process view). `store`
   * may already be closed (a restart). Needed for the restart and cross-instance cases.
   */
  reopen?(store: EventStore, options: EventStoreFactoryOptions): Promise<EventStore>;
  /**
   * Optional cleanup after each case (drop the database, delete the file). Called once per store
   * returned by `create`, after every instance of that case was closed.
   */
  destroy?(store: EventStore): Promise<void>;
}

/** What the kit passes when it asks a harness for a dedup store. */
export interface DedupStoreFactoryOptions {
  /** The store must measure leases and TTLs with this clock. */
  clock: Clock;
}

/** How the kit gets dedup stores; the same shape as `EventStoreHarness`. */
export interface DedupStoreHarness {
  /** A new store on fresh, empty, isolated data, using `clock` for leases and TTLs. */
  create(options: DedupStoreFactoryOptions): Promise<DedupStore>;
  /** Another instance on the SAME data as `store`, which may already be closed. */
  reopen?(store: DedupStore, options: DedupStoreFactoryOptions): Promise<DedupStore>;
  /** Optional cleanup after each case, once per store returned by `create`. */
  destroy?(store: DedupStore): Promise<void>;
}

/** Options of the `describe*` functions. */
export interface SuiteOptions {
  /** Timeout of each case in milliseconds. Default 30,000. */
  timeoutMs?: number;
  /**
   * How many store instances the cross-instance concurrency cases open (50 appenders or
   * claimers are spread over them). Default 50; lower it for heavy connections.
   */
  instances?: number;
}

/** Default timeout of one case. */
export const DEFAULT_CASE_TIMEOUT_MS = 30_000;
