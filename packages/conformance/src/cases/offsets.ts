import { describe, expect, it } from "vitest";
import { entries, entry, readAll } from "../entries.js";
import { useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

/** Offsets and epochs: 1, 2, 3… gapless per stream; the epoch is created with the first append. */
export function describeOffsets(harness: EventStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("offsets (G1: order)", () => {
    const stores = useEventStores(harness);

    it(
      "assigns offsets 1, 2, 3… to a batch, in entry order",
      async () => {
        const store = await stores.create();
        const results = await store.append("s", entries(3));
        expect(results.map((r) => r.offset)).toEqual([1, 2, 3]);
        expect(results.map((r) => r.id)).toEqual(["e-0", "e-1", "e-2"]);
        expect(results.map((r) => r.duplicate)).toEqual([false, false, false]);
      },
      timeout,
    );

    it(
      "continues gaplessly across calls of different sizes",
      async () => {
        const store = await stores.create();
        const offsets: number[] = [];
        for (const [size, prefix] of [
          [1, "a"],
          [3, "b"],
          [2, "c"],
        ] as const) {
          offsets.push(...(await store.append("s", entries(size, prefix))).map((r) => r.offset));
        }
        expect(offsets).toEqual([1, 2, 3, 4, 5, 6]);
        expect((await readAll(store, "s")).map((r) => r.offset)).toEqual([1, 2, 3, 4, 5, 6]);
      },
      timeout,
    );

    it(
      "counts every stream on its own",
      async () => {
        const store = await stores.create();
        await store.append("a", entries(2, "a"));
        const [first] = await store.append("b", entries(1, "b"));
        expect(first?.offset).toBe(1);
        const [third] = await store.append("a", entries(1, "c"));
        expect(third?.offset).toBe(3);
      },
      timeout,
    );

    it(
      'has epoch "", head 0 and earliest 1 before the first append; head and read create nothing',
      async () => {
        const store = await stores.create();
        expect(await store.head("s")).toEqual({ epoch: "", head: 0, earliest: 1 });
        expect(await store.read("s", { after: 0, limit: 10 })).toEqual({
          epoch: "",
          head: 0,
          earliest: 1,
          records: [],
        });
        expect(await store.head("s")).toEqual({ epoch: "", head: 0, earliest: 1 });
      },
      timeout,
    );

    it(
      "creates a non-empty epoch with the first append and keeps it for later appends, reads and heads",
      async () => {
        const store = await stores.create();
        const [first] = await store.append("s", entries(1, "a"));
        const epoch = first!.epoch;
        expect(typeof epoch === "string" && epoch.length > 0, "epoch must be non-empty").toBe(true);
        const later = await store.append("s", entries(2, "b"));
        expect(later.map((r) => r.epoch)).toEqual([epoch, epoch]);
        expect((await store.head("s")).epoch).toBe(epoch);
        expect((await store.read("s", { after: 0, limit: 1 })).epoch).toBe(epoch);
      },
      timeout,
    );

    it(
      "generates a unique, non-empty id for an entry without one",
      async () => {
        const store = await stores.create();
        const results = await store.append("s", [entry(), entry(), entry()]);
        const ids = results.map((r) => r.id);
        expect(ids.every((id) => typeof id === "string" && id.length > 0)).toBe(true);
        expect(new Set(ids).size).toBe(3);
        expect((await readAll(store, "s")).map((r) => r.id)).toEqual(ids);
      },
      timeout,
    );

    it(
      "stores stream, name, id and the append time from the injected clock",
      async () => {
        const store = await stores.create();
        const appendedAt = stores.clock();
        await store.append("s", [{ id: "x", name: "greeting", payload: new Uint8Array([5]) }]);
        stores.clock.advance(1_234);
        await store.append("s", [{ id: "y", name: "farewell", payload: new Uint8Array([6]) }]);
        const [first, second] = await readAll(store, "s");
        expect(first).toMatchObject({
          stream: "s",
          offset: 1,
          id: "x",
          name: "greeting",
          time: appendedAt,
        });
        expect(second).toMatchObject({
          offset: 2,
          id: "y",
          name: "farewell",
          time: appendedAt + 1_234,
        });
      },
      timeout,
    );
  });
}
