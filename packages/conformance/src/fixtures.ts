import type { DedupStore, EventStore, Retention } from "@assured/core/store";
import { afterEach, beforeEach, expect, type TestContext } from "vitest";
import type {
  BackendOutage,
  DedupStoreHarness,
  EventStoreHarness,
  SuiteOptions,
} from "./harness.js";
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
  /**
   * Ends `store` as a crash would: the harness's `crash`, else abandoned (no `close()` until the
   * case ends). Follow with `reopen(store)` to see what survived.
   */
  crash(store: S): Promise<void>;
  /** Whether the harness has a `crash` of its own (else `crash` abandons the store). */
  readonly canCrash: boolean;
  /**
   * Breaks the backend under `store` with the harness's `breakBackend`; an outage not restored
   * by the case is restored when it ends, before its stores are closed.
   */
  breakBackend(store: S): Promise<BackendOutage>;
  /** Whether the harness has a `breakBackend`. */
  readonly canBreakBackend: boolean;
}

interface Harness<S> {
  create(options: { clock: TestClock; retention?: Retention }): Promise<S>;
  reopen?(store: S, options: { clock: TestClock; retention?: Retention }): Promise<S>;
  destroy?(store: S): Promise<void>;
  crash?(store: S): Promise<void>;
  breakBackend?(store: S): Promise<BackendOutage>;
}

function useStores<S extends { close(): Promise<void> }>(harness: Harness<S>): StoreFixture<S> {
  let clock = createTestClock();
  let opened: S[] = [];
  let created: S[] = [];
  let outages: (() => Promise<void>)[] = [];
  const retentionOf = new WeakMap<S, Retention | undefined>();

  beforeEach(() => {
    clock = createTestClock();
    opened = [];
    created = [];
    outages = [];
  });

  afterEach(async () => {
    for (const restore of outages) await restore().catch(() => undefined);
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
    get canCrash() {
      return typeof harness.crash === "function";
    },
    async crash(store: S) {
      if (harness.crash !== undefined) await harness.crash(store);
    },
    get canBreakBackend() {
      return typeof harness.breakBackend === "function";
    },
    async breakBackend(store: S) {
      if (harness.breakBackend === undefined) throw new Error("The harness has no breakBackend().");
      const outage = await harness.breakBackend(store);
      let restored: Promise<void> | undefined;
      const restore = () => {
        restored ??= outage.restore();
        return restored;
      };
      outages.push(restore);
      return { readable: outage.readable === true, restore };
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

/** The message of a case that needs `reopen` from a harness that has none. */
function addReopen(capability: string): string {
  return `the store declares capabilities.${capability}: true, but the harness has no reopen(): add reopen to your harness (another instance on the same data) so the kit can check it`;
}

/**
 * Skips the case, with the reason, unless the store declares it shares data across instances.
 * A store that declares it does must let the kit check it: the case fails when the harness has
 * no `reopen` or `options.instances` is below 2.
 */
export function requireShared(
  context: TestContext,
  fixture: StoreFixture<unknown>,
  store: { capabilities: { sharedAcrossInstances: boolean } },
  options: SuiteOptions = {},
): void {
  if (!store.capabilities.sharedAcrossInstances) {
    context.skip("the store declares capabilities.sharedAcrossInstances: false");
  }
  if (!fixture.canReopen) expect.fail(addReopen("sharedAcrossInstances"));
  if (options.instances !== undefined && options.instances < 2) {
    expect.fail(
      `options.instances is ${options.instances}, but the cross-instance cases need at least 2 instances (the store declares capabilities.sharedAcrossInstances: true): set instances to 2 or more`,
    );
  }
}

/**
 * Skips the case, with the reason, unless the store declares it is persistent. A store that
 * declares it is must let the kit check it: the case fails when the harness has no `reopen`.
 */
export function requirePersistent(
  context: TestContext,
  fixture: StoreFixture<unknown>,
  store: { capabilities: { persistent: boolean } },
): void {
  if (!store.capabilities.persistent) {
    context.skip("the store declares capabilities.persistent: false");
  }
  if (!fixture.canReopen) expect.fail(addReopen("persistent"));
}

/**
 * A store with `retention` when the store declares `capability`; else skips the case with the
 * reason, before asking for the retention (a store without it refuses it, see the capabilities
 * cases).
 */
export async function createRetaining(
  context: TestContext,
  fixture: StoreFixture<EventStore>,
  retention: Retention,
  capability: "retentionByAge" | "retentionByLength",
): Promise<EventStore> {
  const plain = await fixture.create();
  if (!plain.capabilities[capability]) {
    context.skip(`the store declares capabilities.${capability}: false`);
  }
  await plain.close();
  return fixture.create(retention);
}
