import type { StoreFixture } from "./fixtures.js";

/** How a restart case ends a store before it reopens the store's data. */
export interface RestartMode {
  /** How the case names it: "after close" or "after a crash". */
  readonly label: string;
  /** Ends `store`: `close()`, or the harness's `crash` (else abandonment). */
  stop<S extends { close(): Promise<void> }>(fixture: StoreFixture<S>, store: S): Promise<void>;
}

/**
 * Both ways a store's data outlives it: a clean `close()`, and a crash (nothing flushed, no
 * `close()`), after which every acknowledged write must still be there.
 */
export const RESTART_MODES: readonly RestartMode[] = [
  { label: "after close", stop: (_fixture, store) => store.close() },
  { label: "after a crash", stop: (fixture, store) => fixture.crash(store) },
];
