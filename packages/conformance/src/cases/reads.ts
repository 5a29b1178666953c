import { MAX_READ_LIMIT } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { expectConsecutive } from "../assertions.js";
import { entries, readAll } from "../entries.js";
import { useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

/** Reads and heads: after, limit, empty results, unknown streams, head and earliest. */
export function describeReads(harness: EventStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("reads", () => {
    const stores = useEventStores(harness);

    it(
      "reads the events after a position, oldest first",
      async () => {
        const store = await stores.create();
        await store.append("s", entries(5));
        const page = await store.read("s", { after: 2, limit: 10 });
        expectConsecutive(page.records, 3, "read after 2");
        expect(page.records.map((r) => r.id)).toEqual(["e-2", "e-3", "e-4"]);
      },
      timeout,
    );

    it(
      "returns at most limit records",
      async () => {
        const store = await stores.create();
        await store.append("s", entries(5));
        const page = await store.read("s", { after: 1, limit: 2 });
        expect(page.records.map((r) => r.offset)).toEqual([2, 3]);
        const one = await store.read("s", { after: 0, limit: 1 });
        expect(one.records.map((r) => r.offset)).toEqual([1]);
      },
      timeout,
    );

    it(
      "accepts the largest limit, MAX_READ_LIMIT",
      async () => {
        const store = await stores.create();
        await store.append("s", entries(3));
        const page = await store.read("s", { after: 0, limit: MAX_READ_LIMIT });
        expect(page.records.map((r) => r.offset)).toEqual([1, 2, 3]);
      },
      timeout,
    );

    it(
      "returns no records at or after the head, with the log's state",
      async () => {
        const store = await stores.create();
        const [first] = await store.append("s", entries(3));
        for (const after of [3, 4, 1_000]) {
          expect(await store.read("s", { after, limit: 10 })).toEqual({
            epoch: first!.epoch,
            head: 3,
            earliest: 1,
            records: [],
          });
        }
      },
      timeout,
    );

    it(
      "reads an unknown stream as empty, even next to a stream with events",
      async () => {
        const store = await stores.create();
        await store.append("known", entries(2));
        expect(await store.read("unknown", { after: 0, limit: 10 })).toEqual({
          epoch: "",
          head: 0,
          earliest: 1,
          records: [],
        });
        expect(await store.head("unknown")).toEqual({ epoch: "", head: 0, earliest: 1 });
      },
      timeout,
    );

    it(
      "reports the same epoch, head and earliest from head() and read()",
      async () => {
        const store = await stores.create();
        const [first] = await store.append("s", entries(4));
        const head = await store.head("s");
        expect(head).toEqual({ epoch: first!.epoch, head: 4, earliest: 1 });
        const { records: _records, ...state } = await store.read("s", { after: 0, limit: 2 });
        expect(state).toEqual(head);
      },
      timeout,
    );

    it(
      "reads a page of more than 1,000 records with no gap, from the first",
      async () => {
        const store = await stores.create();
        await store.append("s", entries(1_500));
        const { records } = await store.read("s", { after: 0, limit: MAX_READ_LIMIT });
        expect(records.length, "records of the page").toBeGreaterThan(0);
        expectConsecutive(records, 1, "one page of 1,500 events (a record lost inside the page)");
        const rest = await readAll(store, "s");
        expectConsecutive(rest, 1, "every page of 1,500 events");
        expect(rest).toHaveLength(1_500);
      },
      timeout,
    );

    it(
      "pages through a long stream with no gap and no repeat",
      async () => {
        const store = await stores.create();
        await store.append("s", entries(25));
        const seen: number[] = [];
        let after = 0;
        for (let page = 0; page < 10 && after < 25; page++) {
          const { records } = await store.read("s", { after, limit: 7 });
          expectConsecutive(records, after + 1, `page after ${after}`);
          seen.push(...records.map((r) => r.offset));
          after = records.at(-1)?.offset ?? after;
        }
        expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
      },
      timeout,
    );

    it(
      "readPacked, when the store has it, gives read's page packed for the wire, cut after maxBytes of payloads",
      async () => {
        const store = await stores.create();
        if (store.readPacked === undefined) return; // optional: servers fall back to read
        expect(await store.readPacked("unknown", { after: 0, limit: 10, maxBytes: 100 })).toEqual({
          epoch: "",
          head: 0,
          earliest: 1,
          records: [],
          payloads: new Uint8Array(0),
        });
        await store.append("s", entries(40));
        for (const [after, limit, maxBytes] of [
          [0, 10, 1_000],
          [5, 100, 1_000],
          [3, 20, 7], // 2 bytes a payload: three fit
          [10, 5, 1], // the first always fits
          [40, 10, 1_000],
          [100, 10, 1_000],
        ] as const) {
          const page = await store.read("s", { after, limit });
          const fitting = page.records.filter((_, i) => i === 0 || (i + 1) * 2 <= maxBytes);
          const got = await store.readPacked("s", { after, limit, maxBytes });
          expect({ ...got, payloads: [...got.payloads] }, `after ${after}`).toEqual({
            epoch: page.epoch,
            head: page.head,
            earliest: page.earliest,
            records: fitting.map((r) => [r.offset, r.id, r.name, r.payload.byteLength, r.time]),
            payloads: fitting.flatMap((r) => [...r.payload]),
          });
        }
        // The page is the caller's: changing it does not change the store.
        const got = await store.readPacked("s", { after: 0, limit: 1, maxBytes: 10 });
        got.payloads.fill(9);
        expect([...(await store.read("s", { after: 0, limit: 1 })).records[0]!.payload]).toEqual([
          0, 0,
        ]);
      },
      timeout,
    );
  });
}
