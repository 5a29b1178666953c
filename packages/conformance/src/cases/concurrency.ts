import type { AppendResult, EventStore } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { expectConsecutive } from "../assertions.js";
import { entries, entry, readAll } from "../entries.js";
import { requireShared, useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout, instanceCount } from "../suite-options.js";

const APPENDERS = 50;
const BATCHES_PER_APPENDER = 4;
const ENTRIES_PER_BATCH = 2;
const TOTAL = APPENDERS * BATCHES_PER_APPENDER * ENTRIES_PER_BATCH;

/** Yields to the event loop so other tasks and I/O run (no sleeping). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Appender `n` appends its batches one after another; returns every result. */
async function appender(store: EventStore, n: number): Promise<AppendResult[]> {
  const results: AppendResult[] = [];
  for (let b = 0; b < BATCHES_PER_APPENDER; b++) {
    results.push(...(await store.append("s", entries(ENTRIES_PER_BATCH, `w${n}-b${b}`))));
  }
  return results;
}

/**
 * Polls `read` from its cursor until it has seen `TOTAL` events; every page must continue
 * exactly at the cursor (prefix visibility). Returns the number of pages that had records.
 */
async function reader(store: EventStore, done: () => boolean, label: string): Promise<number> {
  let cursor = 0;
  let pages = 0;
  while (cursor < TOTAL) {
    const finished = done();
    const { records } = await store.read("s", { after: cursor, limit: 37 });
    expectConsecutive(records, cursor + 1, `${label} after offset ${cursor} (a reader saw a gap)`);
    if (records.length > 0) pages++;
    cursor = records.at(-1)?.offset ?? cursor;
    if (finished && records.length === 0) break;
    await yieldToEventLoop();
  }
  expect(cursor, `${label} stopped before the head`).toBe(TOTAL);
  return pages;
}

function expectEveryOffsetOnce(results: AppendResult[]): void {
  expect(results.every((r) => !r.duplicate)).toBe(true);
  const offsets = results.map((r) => r.offset).sort((a, b) => a - b);
  expect(offsets).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
}

/** Concurrent appenders (one and many instances) and readers that must never see a gap. */
export function describeConcurrency(harness: EventStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  const spread = instanceCount(options, APPENDERS);
  describe("concurrency (G2: prefix visibility, gapless offsets)", () => {
    const stores = useEventStores(harness);

    it(
      `gives ${APPENDERS} concurrent appenders on one instance every offset 1..${TOTAL} exactly once`,
      async () => {
        const store = await stores.create();
        const results = await Promise.all(
          Array.from({ length: APPENDERS }, (_, n) => appender(store, n)),
        );
        expectEveryOffsetOnce(results.flat());
        const records = await readAll(store, "s");
        expectConsecutive(records, 1, "final read");
        expect(records).toHaveLength(TOTAL);
      },
      timeout,
    );

    it(
      `prefix visibility: ${APPENDERS} appenders on ${spread} instances, readers never see a gap`,
      async (context) => {
        const first = await stores.create();
        requireShared(context, stores, first, options);
        const instances = [first];
        while (instances.length < spread) instances.push(await stores.reopen(first));
        const readers = [await stores.reopen(first), await stores.reopen(first), first];
        let appendersDone = false;
        const reading = readers.map((store, i) =>
          reader(store, () => appendersDone, `reader ${i}`),
        );
        const appending = Promise.all(
          Array.from({ length: APPENDERS }, (_, n) => appender(instances[n % spread]!, n)),
        ).finally(() => {
          appendersDone = true;
        });
        const [results] = await Promise.all([appending, ...reading]);
        expectEveryOffsetOnce(results.flat());
        const ids = new Set((await readAll(first, "s")).map((r) => r.id));
        expect(ids.size).toBe(TOTAL);
      },
      timeout,
    );

    it(
      "appends an id once when instances append it concurrently",
      async (context) => {
        const first = await stores.create();
        requireShared(context, stores, first, options);
        const instances = [first, await stores.reopen(first), await stores.reopen(first)];
        const results = await Promise.all(
          Array.from({ length: 30 }, (_, n) => instances[n % 3]!.append("s", [entry("same")])),
        );
        expect(results.flat().filter((r) => !r.duplicate)).toHaveLength(1);
        expect(new Set(results.flat().map((r) => r.offset))).toEqual(new Set([1]));
        expect((await first.head("s")).head).toBe(1);
      },
      timeout,
    );

    it(
      "shows one instance's append to another instance at once, in the same epoch",
      async (context) => {
        const first = await stores.create();
        requireShared(context, stores, first, options);
        const second = await stores.reopen(first);
        const [appended] = await first.append("s", [entry("a")]);
        expect(await second.head("s")).toEqual({ epoch: appended!.epoch, head: 1, earliest: 1 });
        const [next] = await second.append("s", [entry("b")]);
        expect(next).toMatchObject({ offset: 2, epoch: appended!.epoch });
        expect((await first.read("s", { after: 1, limit: 5 })).records.map((r) => r.id)).toEqual([
          "b",
        ]);
      },
      timeout,
    );
  });
}
