import { describe, expect, it } from "vitest";
import { entries, entry, readAll } from "../entries.js";
import { requirePersistent, useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { RESTART_MODES } from "../restart-modes.js";
import { caseTimeout } from "../suite-options.js";

/**
 * Restart: a new instance on the same data keeps data, head and epoch, whether the old one was
 * closed or crashed (every acknowledged write survives a crash; nothing waits for `close()`).
 */
export function describeRestart(harness: EventStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("restart (G5)", () => {
    const stores = useEventStores(harness);

    for (const mode of RESTART_MODES) {
      it(
        `keeps records, head and epoch in a new instance, reopened ${mode.label}`,
        async (context) => {
          const store = await stores.create();
          requirePersistent(context, stores, store);
          const [first] = await store.append("s", entries(3));
          const before = await readAll(store, "s");
          await mode.stop(stores, store);
          const restarted = await stores.reopen(store);
          expect(await restarted.head("s")).toEqual({ epoch: first!.epoch, head: 3, earliest: 1 });
          const after = await readAll(restarted, "s");
          expect(after.map((r) => [r.offset, r.id, r.name, r.time, [...r.payload]])).toEqual(
            before.map((r) => [r.offset, r.id, r.name, r.time, [...r.payload]]),
          );
        },
        timeout,
      );

      it(
        `continues at head + 1 in the same epoch, reopened ${mode.label}`,
        async (context) => {
          const store = await stores.create();
          requirePersistent(context, stores, store);
          const [first] = await store.append("s", entries(2, "a"));
          await mode.stop(stores, store);
          const restarted = await stores.reopen(store);
          const [next] = await restarted.append("s", entries(1, "b"));
          expect(next).toMatchObject({ offset: 3, duplicate: false, epoch: first!.epoch });
        },
        timeout,
      );

      it(
        `still recognises an id appended before as a duplicate, reopened ${mode.label}`,
        async (context) => {
          const store = await stores.create();
          requirePersistent(context, stores, store);
          await store.append("s", [entry("a"), entry("b")]);
          await mode.stop(stores, store);
          const restarted = await stores.reopen(store);
          const [again] = await restarted.append("s", [entry("b")]);
          expect(again).toMatchObject({ offset: 2, duplicate: true });
          expect((await restarted.head("s")).head).toBe(2);
        },
        timeout,
      );

      it(
        `keeps a reset's new epoch, reopened ${mode.label}`,
        async (context) => {
          const store = await stores.create();
          requirePersistent(context, stores, store);
          await store.append("s", entries(2));
          const reset = await store.reset("s");
          await mode.stop(stores, store);
          const restarted = await stores.reopen(store);
          expect(await restarted.head("s")).toEqual({ epoch: reset.epoch, head: 0, earliest: 1 });
          const [first] = await restarted.append("s", entries(1, "n"));
          expect(first).toMatchObject({ offset: 1, epoch: reset.epoch });
        },
        timeout,
      );
    }
  });
}
