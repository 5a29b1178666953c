import { describe, expect, it } from "vitest";
import { expectConsecutive } from "../assertions.js";
import { entries, entry, readAll } from "../entries.js";
import { createRetaining, requirePersistent, useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

/** Retention by length and by age (age measured with the injected clock). */
export function describeRetention(harness: EventStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("retention (G6: trimmed, G11)", () => {
    const stores = useEventStores(harness);

    it(
      "keeps the newest maxLength events; earliest moves, offsets stay",
      async (context) => {
        const store = await createRetaining(context, stores, { maxLength: 3 }, "retentionByLength");
        await store.append("s", entries(5));
        const [sixth] = await store.append("s", entries(1, "late"));
        expect(sixth?.offset).toBe(6);
        const page = await store.read("s", { after: 0, limit: 10 });
        expect(page).toMatchObject({ head: 6, earliest: 4 });
        expectConsecutive(page.records, 4, "retained records");
        expect(page.records).toHaveLength(3);
        expect(await store.head("s")).toMatchObject({ head: 6, earliest: 4 });
      },
      timeout,
    );

    it(
      "still detects a retained id as a duplicate under length retention",
      async (context) => {
        const store = await createRetaining(context, stores, { maxLength: 3 }, "retentionByLength");
        await store.append("s", entries(5));
        const [again] = await store.append("s", [entry("e-4")]);
        expect(again).toMatchObject({ offset: 5, duplicate: true });
      },
      timeout,
    );

    it(
      "trims events older than maxAgeMs by the injected clock and keeps younger ones",
      async (context) => {
        const store = await createRetaining(context, stores, { maxAgeMs: 1_000 }, "retentionByAge");
        await store.append("s", entries(2, "old"));
        stores.clock.advance(600);
        await store.append("s", entries(2, "young"));
        stores.clock.advance(600);
        const page = await store.read("s", { after: 0, limit: 10 });
        expect(page.records.map((r) => r.id)).toEqual(["young-0", "young-1"]);
        expect(page).toMatchObject({ head: 4, earliest: 3 });
        expect(await store.head("s")).toMatchObject({ head: 4, earliest: 3 });
      },
      timeout,
    );

    it(
      "reports earliest = head + 1 when age trimmed everything, and appends continue",
      async (context) => {
        const store = await createRetaining(context, stores, { maxAgeMs: 1_000 }, "retentionByAge");
        const [first] = await store.append("s", entries(3));
        stores.clock.advance(5_000);
        expect(await store.head("s")).toEqual({ epoch: first!.epoch, head: 3, earliest: 4 });
        expect((await store.read("s", { after: 0, limit: 10 })).records).toEqual([]);
        const [next] = await store.append("s", entries(1, "next"));
        expect(next).toMatchObject({ offset: 4, epoch: first!.epoch });
        expect((await readAll(store, "s")).map((r) => r.offset)).toEqual([4]);
      },
      timeout,
    );

    it(
      "starts a read from a trimmed position at earliest",
      async (context) => {
        const store = await createRetaining(context, stores, { maxLength: 2 }, "retentionByLength");
        await store.append("s", entries(6));
        const page = await store.read("s", { after: 1, limit: 10 });
        expect(page.earliest).toBe(5);
        expectConsecutive(page.records, 5, "read from a trimmed position");
        expect(page.records).toHaveLength(2);
      },
      timeout,
    );

    it(
      "keeps applying length retention in an instance reopened on the data",
      async (context) => {
        const store = await createRetaining(context, stores, { maxLength: 2 }, "retentionByLength");
        requirePersistent(context, stores, store);
        await store.append("s", entries(4));
        await store.close();
        const reopened = await stores.reopen(store);
        expect(await reopened.head("s"), "after the reopen").toMatchObject({
          head: 4,
          earliest: 3,
        });
        await reopened.append("s", entries(2, "late"));
        expect(
          await reopened.head("s"),
          "the reopened instance (given the same retention) must still trim to maxLength",
        ).toMatchObject({ head: 6, earliest: 5 });
        expect((await readAll(reopened, "s")).map((r) => r.id)).toEqual(["late-0", "late-1"]);
      },
      timeout,
    );
  });
}
