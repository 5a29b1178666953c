import { describe, expect, it } from "vitest";
import { entries, entry, readAll } from "../entries.js";
import { useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

/** Reset: drops the log, starts a new epoch at head 0; offsets restart at 1. */
export function describeReset(harness: EventStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("reset (G6: epoch)", () => {
    const stores = useEventStores(harness);

    it(
      "starts a new epoch with head 0 and earliest 1",
      async () => {
        const store = await stores.create();
        const [first] = await store.append("s", entries(3));
        const reset = await store.reset("s");
        expect(reset.head).toBe(0);
        expect(reset.earliest).toBe(1);
        expect(
          reset.epoch.length > 0 && reset.epoch !== first!.epoch,
          "a new, non-empty epoch",
        ).toBe(true);
        expect(await store.head("s")).toEqual(reset);
      },
      timeout,
    );

    it(
      "drops the old records and restarts offsets at 1 in the new epoch",
      async () => {
        const store = await stores.create();
        await store.append("s", entries(3, "old"));
        const reset = await store.reset("s");
        expect((await store.read("s", { after: 0, limit: 10 })).records).toEqual([]);
        const results = await store.append("s", entries(2, "new"));
        expect(results.map((r) => [r.offset, r.epoch])).toEqual([
          [1, reset.epoch],
          [2, reset.epoch],
        ]);
        expect((await readAll(store, "s")).map((r) => r.id)).toEqual(["new-0", "new-1"]);
      },
      timeout,
    );

    it(
      "forgets ids from before the reset",
      async () => {
        const store = await stores.create();
        await store.append("s", [entry("a"), entry("b")]);
        await store.reset("s");
        const [again] = await store.append("s", [entry("b")]);
        expect(again).toMatchObject({ offset: 1, duplicate: false });
      },
      timeout,
    );

    it(
      "gives a never-appended stream a non-empty epoch that its first append keeps",
      async () => {
        const store = await stores.create();
        const reset = await store.reset("fresh");
        expect(reset.epoch).not.toBe("");
        expect(reset).toMatchObject({ head: 0, earliest: 1 });
        const [first] = await store.append("fresh", [entry("a")]);
        expect(first).toMatchObject({ offset: 1, epoch: reset.epoch });
      },
      timeout,
    );

    it(
      "yields a different epoch on every reset",
      async () => {
        const store = await stores.create();
        await store.append("s", entries(1));
        const epochs = new Set<string>();
        for (let i = 0; i < 3; i++) epochs.add((await store.reset("s")).epoch);
        expect(epochs.size).toBe(3);
      },
      timeout,
    );

    it(
      "leaves every other stream untouched",
      async () => {
        const store = await stores.create();
        const [kept] = await store.append("kept", entries(2));
        await store.append("s", entries(2));
        await store.reset("s");
        expect(await store.head("kept")).toEqual({ epoch: kept!.epoch, head: 2, earliest: 1 });
        expect(await readAll(store, "kept")).toHaveLength(2);
      },
      timeout,
    );
  });
}
