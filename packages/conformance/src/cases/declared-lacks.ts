import { expect, it } from "vitest";

/** The part of a store fixture the declared-lack probes use (event and dedup stores alike). */
export interface ProbedStores<S> {
  create(): Promise<S>;
  readonly canReopen: boolean;
  reopen(store: S): Promise<S>;
}

/** How to leave a trace in a store and to see it from another instance. */
export interface TraceProbe<S> {
  /** What no trace is, in the case names: "nothing", "no claim". */
  none: string;
  /** What a kept trace is, in failures: "the data", "a claim". */
  trace: string;
  /** What a second instance saw, in failures: "its append", "its claim". */
  seen: string;
  /** Leaves the trace in `store`. */
  write(store: S): Promise<void>;
  /** True when `store` sees the trace. */
  sees(store: S): Promise<boolean>;
}

type Declaring = { readonly capabilities: { persistent: boolean; sharedAcrossInstances: boolean } };

/**
 * A second instance on the same data while the first is open, or undefined when the harness or
 * store refuses one (a store that is not shared may lock its data).
 */
export async function openSecond<S>(reopen: () => Promise<S>): Promise<S | undefined> {
  try {
    return await reopen();
  } catch {
    return undefined;
  }
}

/**
 * A declared lack of persistence or sharing must be real: a reopened instance of a store that
 * declares `persistent: false` sees no trace, and neither does a second instance of a
 * non-persistent store that declares `sharedAcrossInstances: false`, open at the same time.
 */
export function declaredLackCases<S extends Declaring>(
  stores: ProbedStores<S>,
  probe: TraceProbe<S>,
  timeout: number,
): void {
  it(
    `persistent: a store that declares persistent: false keeps ${probe.none} in a reopened instance`,
    async (context) => {
      const store = await stores.create();
      if (store.capabilities.persistent) {
        return; // nothing to probe: the restart cases check the declared persistence
      }
      if (!stores.canReopen) {
        context.skip(
          "the store declares capabilities.persistent: false and the harness has no reopen()",
        );
      }
      await probe.write(store);
      await (store as unknown as { close(): Promise<void> }).close();
      const reopened = await stores.reopen(store);
      expect(
        await probe.sees(reopened),
        `the store declares capabilities.persistent: false, but a reopened instance kept ${probe.trace}: declare persistent: true (the restart cases then check it)`,
      ).toBe(false);
    },
    timeout,
  );

  it(
    `sharedAcrossInstances: a non-persistent store that declares sharedAcrossInstances: false shows ${probe.none} to a second instance open at the same time`,
    async (context) => {
      const store = await stores.create();
      if (store.capabilities.sharedAcrossInstances) {
        return; // nothing to probe: the cross-instance cases check the declared sharing
      }
      if (store.capabilities.persistent) {
        // A persistent store that is not shared (one process at a time, re-reading its files
        // on each call) shows a second instance the data too: seeing proves no sharing here.
        return;
      }
      if (!stores.canReopen) {
        context.skip(
          "the store declares capabilities.sharedAcrossInstances: false and the harness has no reopen()",
        );
      }
      const second = await openSecond(() => stores.reopen(store));
      if (second === undefined) return; // it refuses a second instance: not shared indeed
      await probe.write(store);
      expect(
        await probe.sees(second),
        `the store declares capabilities.sharedAcrossInstances: false, but a second instance opened on the same data while the first was open saw ${probe.seen}: declare sharedAcrossInstances: true (the cross-instance cases then check it)`,
      ).toBe(false);
    },
    timeout,
  );
}
