import { type EventStore, MAX_APPEND_BATCH, MAX_READ_LIMIT } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { expectAssuredError } from "../assertions.js";
import { entries, entry, readAll } from "../entries.js";
import { useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

const BAD_STREAMS: readonly unknown[] = [
  "",
  "x".repeat(257),
  42,
  null,
  undefined,
  {},
  ["s"],
  "a\uD800b",
];
const BAD_OFFSETS: readonly unknown[] = [
  -1,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  "1",
  null,
  2 ** 53,
];
const BAD_LIMITS: readonly unknown[] = [
  0,
  -1,
  1.5,
  MAX_READ_LIMIT + 1,
  "10",
  null,
  undefined,
  Number.NaN,
];

/** A stream with two events, and a check that bad calls left it exactly as it was. */
async function withTwoEvents(store: EventStore): Promise<() => Promise<void>> {
  await store.append("s", entries(2));
  const head = await store.head("s");
  const ids = (await readAll(store, "s")).map((r) => r.id);
  return async () => {
    expect(await store.head("s"), "state after a rejected call").toEqual(head);
    expect((await readAll(store, "s")).map((r) => r.id)).toEqual(ids);
  };
}

/** Invalid arguments: typed `AssuredError` codes, and nothing stored is altered. */
export function describeInvalidArguments(
  harness: EventStoreHarness,
  options: SuiteOptions = {},
): void {
  const timeout = caseTimeout(options);
  const bad = <T>(value: unknown) => value as T;
  describe("invalid arguments (G12)", () => {
    const stores = useEventStores(harness);

    it(
      "rejects bad stream names with INVALID_STREAM on every method",
      async () => {
        const store = await stores.create();
        const unchanged = await withTwoEvents(store);
        for (const stream of BAD_STREAMS) {
          const s = bad<string>(stream);
          const what = `stream ${JSON.stringify(stream) ?? String(stream)}`;
          await expectAssuredError(
            () => store.append(s, [entry("z")]),
            "INVALID_STREAM",
            `append, ${what}`,
          );
          await expectAssuredError(
            () => store.read(s, { after: 0, limit: 1 }),
            "INVALID_STREAM",
            `read, ${what}`,
          );
          await expectAssuredError(() => store.head(s), "INVALID_STREAM", `head, ${what}`);
          await expectAssuredError(() => store.reset(s), "INVALID_STREAM", `reset, ${what}`);
        }
        await unchanged();
      },
      timeout,
    );

    it(
      "rejects a missing, empty or non-array batch with INVALID_ARGUMENT",
      async () => {
        const store = await stores.create();
        const unchanged = await withTwoEvents(store);
        for (const batch of [[], null, undefined, "entries", {}, { length: 1, 0: entry("z") }]) {
          await expectAssuredError(
            () => store.append("s", bad(batch)),
            "INVALID_ARGUMENT",
            `batch ${JSON.stringify(batch)}`,
          );
        }
        await unchanged();
      },
      timeout,
    );

    it(
      `rejects a batch of more than ${MAX_APPEND_BATCH} entries and appends none of it`,
      async () => {
        const store = await stores.create();
        const unchanged = await withTwoEvents(store);
        await expectAssuredError(
          () => store.append("s", entries(MAX_APPEND_BATCH + 1, "big")),
          ["INVALID_ARGUMENT", "LIMIT_EXCEEDED"],
          "oversized batch",
        );
        await unchanged();
      },
      timeout,
    );

    it(
      "rejects bad entries with INVALID_ARGUMENT; one bad entry among good ones appends nothing",
      async () => {
        const store = await stores.create();
        const unchanged = await withTwoEvents(store);
        const payload = new Uint8Array([1]);
        const badEntries: unknown[] = [
          null,
          "entry",
          { name: "n" },
          { name: "n", payload: "text" },
          { name: "n", payload: [1, 2] },
          { name: "n", payload: new ArrayBuffer(2) },
          { payload },
          { name: "", payload },
          { name: 7, payload },
          { id: "", name: "n", payload },
          { id: 7, name: "n", payload },
          { id: "x".repeat(257), name: "n", payload },
          { id: "\uDC00", name: "n", payload },
        ];
        for (const badEntry of badEntries) {
          await expectAssuredError(
            () => store.append("s", bad([entry("good-1"), badEntry, entry("good-2")])),
            "INVALID_ARGUMENT",
            `entry ${JSON.stringify(badEntry)}`,
          );
        }
        await unchanged();
      },
      timeout,
    );

    it(
      "rejects bad read positions with INVALID_OFFSET",
      async () => {
        const store = await stores.create();
        const unchanged = await withTwoEvents(store);
        for (const after of BAD_OFFSETS) {
          await expectAssuredError(
            () => store.read("s", bad({ after, limit: 10 })),
            "INVALID_OFFSET",
            `after ${String(after)}`,
          );
        }
        await unchanged();
      },
      timeout,
    );

    it(
      `rejects read limits outside 1–${MAX_READ_LIMIT} and bad read options with INVALID_ARGUMENT`,
      async () => {
        const store = await stores.create();
        const unchanged = await withTwoEvents(store);
        for (const limit of BAD_LIMITS) {
          await expectAssuredError(
            () => store.read("s", bad({ after: 0, limit })),
            limit === MAX_READ_LIMIT + 1
              ? ["INVALID_ARGUMENT", "LIMIT_EXCEEDED"]
              : "INVALID_ARGUMENT",
            `limit ${String(limit)}`,
          );
        }
        for (const readOptions of [null, undefined, "0"]) {
          await expectAssuredError(
            () => store.read("s", bad(readOptions)),
            ["INVALID_ARGUMENT", "INVALID_OFFSET"],
            `read options ${String(readOptions)}`,
          );
        }
        await unchanged();
      },
      timeout,
    );
  });
}
