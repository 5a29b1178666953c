import type { EventRecord } from "@assured/core";
import { describe, expect, it } from "vitest";
import { entry, readAll } from "../entries.js";
import { useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import {
  expectUnavailable,
  onceRestored,
  requireBreakBackend,
  settleLimit,
  within,
} from "../outage.js";
import { caseTimeout } from "../suite-options.js";

const shape = (records: readonly EventRecord[]) =>
  records.map((r) => [r.offset, r.id, r.name, r.time, [...r.payload]]);

/**
 * Backend failure: with the backend broken (the harness's `breakBackend`), every method rejects
 * fast with `STORE_UNAVAILABLE` (never a raw driver error, never a hang); once it is restored,
 * the same instance works again on intact data, and a failed append happened fully or not at all.
 */
export function describeBackendFailure(
  harness: EventStoreHarness,
  options: SuiteOptions = {},
): void {
  const timeout = caseTimeout(options);
  const limit = settleLimit(timeout);
  describe("backend failure (STORE_UNAVAILABLE, recovery)", () => {
    const stores = useEventStores(harness);

    it(
      "rejects append, read, head and reset with STORE_UNAVAILABLE while the backend is down",
      async (context) => {
        const store = await stores.create();
        requireBreakBackend(context, stores);
        await store.append("s", [entry("a"), entry("b")]);
        const outage = await stores.breakBackend(store);
        await expectUnavailable(() => store.append("s", [entry("c")]), "append", limit);
        await expectUnavailable(() => store.append("new", [entry("c")]), "append", limit);
        if (outage.readable) {
          const head = await within(() => store.head("s"), "head (readable outage)", limit);
          expect(head.head, "head while only writes are blocked").toBe(2);
          const page = await within(
            () => store.read("s", { after: 0, limit: 10 }),
            "read (readable outage)",
            limit,
          );
          expect(page.records.map((r) => r.id)).toEqual(["a", "b"]);
        } else {
          await expectUnavailable(() => store.read("s", { after: 0, limit: 10 }), "read", limit);
          await expectUnavailable(() => store.head("s"), "head", limit);
        }
        await expectUnavailable(() => store.reset("s"), "reset", limit);
        await outage.restore();
      },
      timeout,
    );

    it(
      "works again on the same instance once restored: data intact, a failed append all or nothing",
      async (context) => {
        const store = await stores.create();
        requireBreakBackend(context, stores);
        const [first] = await store.append("s", [entry("a"), entry("b")]);
        const before = await readAll(store, "s");
        const outage = await stores.breakBackend(store);
        await expectUnavailable(() => store.append("s", [entry("c"), entry("d")]), "append", limit);
        await outage.restore();
        const head = await onceRestored(() => store.head("s"), "head", limit);
        expect(head.epoch, "epoch after the outage").toBe(first!.epoch);
        expect(
          [2, 4],
          `head after a failed append of 2 entries onto 2: it must have happened fully (4) or not at all (2), got ${head.head}`,
        ).toContain(head.head);
        const happened = head.head === 4;
        const after = await readAll(store, "s");
        expect(shape(after.slice(0, 2)), "records written before the outage").toEqual(
          shape(before),
        );
        expect(after.slice(2).map((r) => r.id)).toEqual(happened ? ["c", "d"] : []);
        const retried = await store.append("s", [entry("c"), entry("d")]);
        expect(retried.map((r) => [r.offset, r.duplicate])).toEqual([
          [3, happened],
          [4, happened],
        ]);
        const [next] = await store.append("s", [entry("e")]);
        expect(next).toMatchObject({ offset: 5, duplicate: false, epoch: first!.epoch });
        expect((await store.reset("s")).head).toBe(0);
      },
      timeout,
    );
  });
}
