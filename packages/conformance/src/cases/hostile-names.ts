import { describe, expect, it } from "vitest";
import { expectAssuredError } from "../assertions.js";
import { entry, readAll } from "../entries.js";
import { useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

/**
 * Stream names that break stores which build keys, paths, patterns or queries from them. Every
 * one is a valid name and must get a log of its own.
 */
export const HOSTILE_STREAM_NAMES: readonly string[] = [
  "*",
  "room:*",
  "room:?",
  "room:[12]",
  "room:%",
  "room:_",
  "{x}",
  "{room}:1",
  "a\nb",
  "a\r\nb",
  "tab\there",
  "nul\u0000byte",
  '"double"',
  "'single'",
  "`back`",
  "'; DROP TABLE events; --",
  "$where",
  "$gt",
  "a.b",
  "../",
  "../../etc/passwd",
  "a/b\\c",
  "C:\\con",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "%s%n",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal placeholder is the hostile part
  "${x}",
  "<script>",
  " ",
  "🎉",
  "👩‍👩‍👧",
  "é",
  "e\u0301",
  "Room",
  "room",
  "ROOM",
  "room ",
  " room",
  "room:1",
  "room:2",
  "🎉".repeat(256),
];

/** Separators a store might join a stream name and an id with, into one key. */
const JOIN_SEPARATORS: readonly string[] = [
  ":",
  "/",
  "|",
  ".",
  "#",
  "-",
  "_",
  " ",
  ",",
  "\u0000",
  "\n",
];

/** Hostile stream names: opaque data that must never bleed into another stream. */
export function describeHostileNames(harness: EventStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("hostile stream names (G12)", () => {
    const stores = useEventStores(harness);

    it(
      "gives each hostile name a log of its own",
      async () => {
        const store = await stores.create();
        for (const [i, name] of HOSTILE_STREAM_NAMES.entries()) {
          const [result] = await store.append(name, [entry(`id-${i}`, new Uint8Array([i]))]);
          expect(result?.offset, `first append to ${JSON.stringify(name)}`).toBe(1);
        }
        for (const [i, name] of HOSTILE_STREAM_NAMES.entries()) {
          const records = await readAll(store, name);
          expect(
            records.map((r) => [r.stream, r.id, [...r.payload]]),
            JSON.stringify(name),
          ).toEqual([[name, `id-${i}`, [i]]]);
          expect((await store.head(name)).head, JSON.stringify(name)).toBe(1);
        }
      },
      timeout,
    );

    it(
      "keeps names differing only by case, a trailing space or Unicode normalization apart",
      async () => {
        const store = await stores.create();
        const variants = ["room", "Room", "ROOM", "room ", " room", "é", "e\u0301"];
        for (const [i, name] of variants.entries()) {
          await store.append(
            name,
            Array.from({ length: i + 1 }, (_, k) => entry(`${i}-${k}`)),
          );
        }
        for (const [i, name] of variants.entries()) {
          expect((await store.head(name)).head, JSON.stringify(name)).toBe(i + 1);
        }
      },
      timeout,
    );

    it(
      "does not treat pattern characters as patterns: room:* sees nothing of room:1",
      async () => {
        const store = await stores.create();
        await store.append("room:1", [entry("a")]);
        await store.append("room:2", [entry("b")]);
        for (const pattern of ["room:*", "room:?", "room:[12]", "room:%", "room:_", "*", "room"]) {
          expect(await store.head(pattern), pattern).toEqual({ epoch: "", head: 0, earliest: 1 });
          expect((await store.read(pattern, { after: 0, limit: 10 })).records, pattern).toEqual([]);
        }
      },
      timeout,
    );

    it(
      'keeps ids apart in streams whose name and id join alike ("a:b" + "c" and "a" + "b:c")',
      async () => {
        const store = await stores.create();
        for (const [i, separator] of JOIN_SEPARATORS.entries()) {
          const [left, right] = [`j${i}${separator}b`, `j${i}`];
          const [first] = await store.append(left, [entry("c")]);
          expect(first, `${JSON.stringify(left)} + "c"`).toMatchObject({
            offset: 1,
            duplicate: false,
          });
          const [second] = await store.append(right, [entry(`b${separator}c`)]);
          expect(
            second,
            `${JSON.stringify(right)} + ${JSON.stringify(`b${separator}c`)} after ${JSON.stringify(left)} + "c": a stream's ids must not meet another stream's (build keys that cannot collide, e.g. length-prefixed or escaped parts)`,
          ).toMatchObject({ offset: 1, duplicate: false });
          expect((await store.head(right)).head, JSON.stringify(right)).toBe(1);
        }
      },
      timeout,
    );

    it(
      "resets one hostile name without touching names that look alike",
      async () => {
        const store = await stores.create();
        const names = ["{x}", "{x}*", "x", "$where", "$where.x", "../", "..//"];
        for (const name of names) await store.append(name, [entry("a"), entry("b")]);
        await store.reset("{x}");
        await store.reset("$where");
        await store.reset("../");
        for (const name of names) {
          const expected = ["{x}", "$where", "../"].includes(name) ? 0 : 2;
          expect((await store.head(name)).head, JSON.stringify(name)).toBe(expected);
        }
      },
      timeout,
    );

    it(
      "accepts 256 code points (512 UTF-16 units of emoji) and rejects 257 with INVALID_STREAM",
      async () => {
        const store = await stores.create();
        const longest = "😀".repeat(256);
        await store.append(longest, [entry("a")]);
        expect((await store.head(longest)).head).toBe(1);
        await expectAssuredError(
          () => store.append("😀".repeat(257), [entry("a")]),
          "INVALID_STREAM",
          "257 code points",
        );
      },
      timeout,
    );
  });
}
