import type { DedupStore, EventStore, Retention } from "@assured/core";
import { afterEach, beforeEach, type TestContext } from "vitest";
import type { DedupStoreHarness, EventStoreHarness } from "./harness.js";
import { createTestClock, type TestClock } from "./test-clock.js";

/** The stores of one case: made through the harness, all closed and destroyed when it ends. */
export interface StoreFixture<S> {
  /** The case's clock; every store of the case uses it. */
  readonly clock: TestClock;
  /** A store on fresh, empty data. */
  create(retention?: Retention): Promise<S>;
  /** Another instance on the same data as `store` (with the same retention). */
  reopen(store: S): Promise<S>;
  /** Whether the harness can reopen at all. */
  readonly canReopen: boolean;
}

interface Harness<S> {
  create(options: { clock: TestClock; retention?: Retention }): Promise<S>;
  reopen?(store: S, options: { clock: TestClock; retention?: Retention }): Promise<S>;
  destroy?(store: S): Promise<void>;
}

function useStores<S extends { close(): Promise<void> }>(harness: Harness<S>): StoreFixture<S> {
  let clock = createTestClock();
  let opened: S[] = [];
  let created: S[] = [];
  const retentionOf = new WeakMap<S, Retention | undefined>();

  beforeEach(() => {
    clock = createTestClock();
    opened = [];
    created = [];
  });

  afterEach(async () => {
    for (const store of opened) await store.close().catch(() => undefined);
    if (harness.destroy !== undefined) {
      for (const store of created) await harness.destroy(store);
    }
  });

  const options = (retention: Retention | undefined) =>
    retention === undefined ? { clock } : { clock, retention };

  return {
    get clock() {
      return clock;
    },
    get canReopen() {
      return typeof harness.reopen === "function";
    },
    async create(retention?: Retention) {
      const store = await harness.create(options(retention));
      created.push(store);
      opened.push(store);
      retentionOf.set(store, retention);
      return store;
    },
    async reopen(store: S) {
      if (harness.reopen === undefined) throw new Error("The harness has no reopen().");
      const retention = retentionOf.get(store);
      const again = await harness.reopen(store, options(retention));
      opened.push(again);
      retentionOf.set(again, retention);
      return again;
    },
  };
}

/** Registers per-case setup and cleanup of event stores in the current `describe`. */
export function useEventStores(harness: EventStoreHarness): StoreFixture<EventStore> {
  return useStores<EventStore>(harness);
}

/** Registers per-case setup and cleanup of dedup stores in the current `describe`. */
export function useDedupStores(harness: DedupStoreHarness): StoreFixture<DedupStore> {
  return useStores<DedupStore>(harness);
}

/**
 * Skips the case, with the reason, unless the store declares it shares data across instances
 * and the harness can reopen.
 */
export function requireShared(
  context: TestContext,
  fixture: StoreFixture<unknown>,
  store: { capabilities: { sharedAcrossInstances: boolean } },
): void {
  if (!store.capabilities.sharedAcrossInstances) {
    context.skip("the store declares capabilities.sharedAcrossInstances: false");
  }
  if (!fixture.canReopen) context.skip("the harness has no reopen()");
}

/** Skips the case, with the reason, unless the store declares it is persistent and the harness can reopen. */
export function requirePersistent(
  context: TestContext,
  fixture: StoreFixture<unknown>,
  store: { capabilities: { persistent: boolean } },
): void {
  if (!store.capabilities.persistent) {
    context.skip("the store declares capabilities.persistent: false");
  }
  if (!fixture.canReopen) context.skip("the harness has no reopen()");
}
