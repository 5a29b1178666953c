import type { AppendResult } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { entry, readAll } from "../entries.js";
import { useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

/** Idempotent append: an id the stream holds appends nothing and returns the original offset. */
export function describeIdempotency(harness: EventStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("idempotency (duplicate publish)", () => {
    const stores = useEventStores(harness);

    it(
      "returns the original offset with duplicate: true for an id appended before",
      async () => {
        const store = await stores.create();
        const [original] = await store.append("s", [entry("a"), entry("b")]);
        const [again] = await store.append("s", [entry("a")]);
        expect(again).toEqual({ offset: 1, id: "a", duplicate: true, epoch: original!.epoch });
        expect((await store.head("s")).head).toBe(2);
      },
      timeout,
    );

    it(
      "treats the second of two equal ids in one batch as a duplicate of the first",
      async () => {
        const store = await stores.create();
        const results = await store.append("s", [entry("a"), entry("b"), entry("a"), entry("c")]);
        expect(results.map((r) => [r.id, r.offset, r.duplicate])).toEqual([
          ["a", 1, false],
          ["b", 2, false],
          ["a", 1, true],
          ["c", 3, false],
        ]);
        expect((await readAll(store, "s")).map((r) => r.id)).toEqual(["a", "b", "c"]);
      },
      timeout,
    );

    it(
      "keeps the original event: a duplicate's name and payload are ignored",
      async () => {
        const store = await stores.create();
        await store.append("s", [{ id: "a", name: "first", payload: new Uint8Array([1]) }]);
        await store.append("s", [{ id: "a", name: "second", payload: new Uint8Array([2]) }]);
        const records = await readAll(store, "s");
        expect(records).toHaveLength(1);
        expect(records[0]).toMatchObject({ id: "a", name: "first" });
        expect([...records[0]!.payload]).toEqual([1]);
      },
      timeout,
    );

    it(
      "scopes ids to their stream: the same id in another stream is a new event",
      async () => {
        const store = await stores.create();
        await store.append("one", [entry("a"), entry("b")]);
        const [other] = await store.append("two", [entry("b")]);
        expect(other).toMatchObject({ offset: 1, duplicate: false });
      },
      timeout,
    );

    it(
      "keeps 2,000 distinct ids, appended 100 a call, apart: none is taken for another's duplicate",
      async () => {
        const store = await stores.create();
        const results: AppendResult[] = [];
        for (let call = 0; call < 20; call++) {
          const batch = Array.from({ length: 100 }, (_, i) => entry(`id-${call * 100 + i}`));
          results.push(...(await store.append("s", batch)));
        }
        expect(
          results.filter((r) => r.duplicate).map((r) => r.id),
          "distinct ids answered as duplicates (ids must be compared whole, not by a short hash)",
        ).toEqual([]);
        const again = await store.append("s", [entry("id-1999"), entry("id-0"), entry("new")]);
        expect(again.map((r) => [r.id, r.offset, r.duplicate])).toEqual([
          ["id-1999", 2_000, true],
          ["id-0", 1, true],
          ["new", 2_001, false],
        ]);
      },
      timeout,
    );

    it(
      "appends an id once when 20 appends of it run concurrently",
      async () => {
        const store = await stores.create();
        await store.append("s", [entry("before")]);
        const results = await Promise.all(
          Array.from({ length: 20 }, () => store.append("s", [entry("same")])),
        );
        const flat = results.flat();
        expect(flat.filter((r) => !r.duplicate)).toHaveLength(1);
        expect(new Set(flat.map((r) => r.offset))).toEqual(new Set([2]));
        expect((await store.head("s")).head).toBe(2);
      },
      timeout,
    );
  });
}
