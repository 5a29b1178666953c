import { describe, expect, it } from "vitest";
import { entries, entry, readAll } from "../entries.js";
import { createRetaining, useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

const RULE =
  "an id is held only while its event is retained: once trimmed, appending it again appends a new event (duplicate: false), never a duplicate of an offset below earliest";

/**
 * Trimmed ids: the idempotency window is the retention. An id whose event was trimmed before
 * the append began is forgotten, so appending it again appends a new event at a new offset.
 */
export function describeTrimmedIds(harness: EventStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("trimmed ids (idempotency window = retention)", () => {
    const stores = useEventStores(harness);

    it(
      "appends an id again, as a new event, once length retention trimmed its event",
      async (context) => {
        const store = await createRetaining(context, stores, { maxLength: 2 }, "retentionByLength");
        await store.append("s", [entry("a"), entry("b"), entry("c")]);
        expect((await store.head("s")).earliest).toBe(2);
        const [again] = await store.append("s", [entry("a")]);
        expect(again, RULE).toMatchObject({ offset: 4, id: "a", duplicate: false });
        expect((await readAll(store, "s")).map((r) => [r.offset, r.id])).toEqual([
          [3, "c"],
          [4, "a"],
        ]);
      },
      timeout,
    );

    it(
      "appends an id again, as a new event, once its age expired — even with no read in between",
      async (context) => {
        const store = await createRetaining(context, stores, { maxAgeMs: 1_000 }, "retentionByAge");
        const [first] = await store.append("s", [entry("a"), ...entries(1, "young")]);
        stores.clock.advance(1_500);
        const [again] = await store.append("s", [entry("a")]);
        expect(again, RULE).toMatchObject({
          offset: 3,
          id: "a",
          duplicate: false,
          epoch: first!.epoch,
        });
        const head = await store.head("s");
        expect(head).toMatchObject({ head: 3, earliest: 3 });
        const [thrice] = await store.append("s", [entry("a")]);
        expect(thrice, "a retained id is still a duplicate").toMatchObject({
          offset: 3,
          duplicate: true,
        });
      },
      timeout,
    );
  });
}
