import type { Clock, DedupStore, EventStore, Retention } from "@assured/core/store";

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
  /**
   * Ends `store` as a crash would: no `close()`, nothing it buffered flushed (for a store whose
   * backend is a process, SIGKILL it and start it again on its data). The kit then opens the
   * data with `reopen` and expects every acknowledged write. Without it the kit abandons the
   * store (no `close()` until the case ends) before reopening.
   */
  crash?(store: EventStore): Promise<void>;
  /**
   * Breaks the backend under `store` (stop the server process, lock or take away the file)
   * until the returned outage is restored. While broken, every method must reject with
   * `STORE_UNAVAILABLE` (but `read` and `head` in a `readable` outage); once restored, work
   * again on the same data.
   */
  breakBackend?(store: EventStore): Promise<BackendOutage>;
}

/** A backend broken by a harness's `breakBackend`, until `restore`. */
export interface BackendOutage {
  /** Brings the backend back on the same data (resolves once it answers again). */
  restore(): Promise<void>;
  /**
   * True when the broken backend still serves reads: a lock that blocks only writers (another
   * process's write transaction on a SQLite file in WAL mode). `read` and `head` must then
   * return the data written before instead of rejecting; every write still rejects.
   */
  readonly readable?: boolean;
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
  /** Ends `store` as a crash would (see `EventStoreHarness.crash`). */
  crash?(store: DedupStore): Promise<void>;
  /** Breaks the backend under `store` until restored (see `EventStoreHarness.breakBackend`). */
  breakBackend?(store: DedupStore): Promise<BackendOutage>;
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
  /**
   * How many random operation sequences each model-based property runs (fast-check `numRuns`).
   * Default `DEFAULT_MODEL_RUNS`; raise it for a deeper search (CLI `--runs`).
   */
  runs?: number;
  /** The fast-check seed of the model-based properties (CLI `--seed`), to replay a failure. */
  seed?: number;
}

/** Default runs of each model-based property: a full run of one store stays near a minute. */
export const DEFAULT_MODEL_RUNS = 25;

/** Default timeout of one case. */
export const DEFAULT_CASE_TIMEOUT_MS = 30_000;
