import type { AppendEntry, Retention } from "@assured/core/store";
import fc from "fast-check";
import { HOSTILE_STREAM_NAMES } from "../cases/hostile-names.js";

/** Stream names that share a prefix: a store that matches by prefix or pattern mixes them up. */
const PREFIX_SETS: readonly (readonly string[])[] = [
  ["a", "a:b"],
  ["a", "a*"],
  ["a", "a:b", "a*"],
  ["a:", "a:b", "a"],
  ["room", "room:1", "room:*"],
  ["{x}", "{x}*", "x"],
];

/** Event ids with separators, braces, NUL and the longest length (256 code points). */
export const MODEL_IDS: readonly string[] = [
  "a",
  "b",
  "c",
  "a:b",
  "a|b",
  ":",
  "|",
  "a\u0000b",
  "{a}",
  "}{",
  "big-1",
  "big-2",
  "x".repeat(256),
  "🎉".repeat(256),
];

const EVENT_NAMES = ["event", "e:v", "with space", "🎉"];

/** 2–3 distinct stream names: a prefix-sharing set, or hostile names. */
export const streamNames: fc.Arbitrary<string[]> = fc.oneof(
  fc.constantFrom(...PREFIX_SETS).map((names) => [...names]),
  fc.uniqueArray(fc.constantFrom(...HOSTILE_STREAM_NAMES, "a", "a:b", "a*"), {
    minLength: 2,
    maxLength: 3,
  }),
);

/** One entry: usually with an id from `MODEL_IDS` (so ids repeat within and across batches). */
export const appendEntry: fc.Arbitrary<AppendEntry> = fc
  .record({
    id: fc.option(fc.constantFrom(...MODEL_IDS), { nil: undefined, freq: 4 }),
    name: fc.constantFrom(...EVENT_NAMES),
    payload: fc.uint8Array({ maxLength: 6 }),
  })
  .map(({ id, name, payload }) => (id === undefined ? { name, payload } : { id, name, payload }));

/** A big batch, described by its size so reports stay short: ids `${prefix}-0`… or none. */
export interface BigBatch {
  count: number;
  /** The id prefix; undefined: entries without ids. */
  prefix: string | undefined;
}

/** 40–400 entries, with ids from a few prefixes (so big batches repeat each other's ids) or none. */
export const bigBatch: fc.Arbitrary<BigBatch> = fc.record({
  count: fc.integer({ min: 40, max: 400 }),
  prefix: fc.option(fc.constantFrom("big", "a", "a:b"), { nil: undefined }),
});

/** The entries of a big batch. */
export function bigBatchEntries({ count, prefix }: BigBatch): AppendEntry[] {
  return Array.from({ length: count }, (_, k) => {
    const payload = new Uint8Array([k & 0xff, k >> 8]);
    return prefix === undefined
      ? { name: "big", payload }
      : { id: `${prefix}-${k}`, name: "big", payload };
  });
}

/** Where a read starts: an offset relative to 0, the stream's earliest or its head. */
export interface AfterSpec {
  from: "zero" | "earliest" | "head";
  delta: number;
}

/** Read positions below earliest, at it, around and beyond the head, and anywhere up to 700. */
export const afterSpec: fc.Arbitrary<AfterSpec> = fc.oneof(
  fc.record({
    from: fc.constantFrom<AfterSpec["from"]>("zero", "earliest", "head"),
    delta: fc.integer({ min: -3, max: 3 }),
  }),
  fc.record({ from: fc.constant<AfterSpec["from"]>("zero"), delta: fc.nat(700) }),
);

/** Read limits: tiny, any up to 1,000, and sizes around common page sizes, and the maximum. */
export const readLimit: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 1, max: 5 }),
  fc.integer({ min: 1, max: 1_000 }),
  fc.constantFrom(99, 100, 101, 255, 256, 257, 500, 1_000, 10_000),
);

/** Clock steps around `maxAgeMs` (1,000) and beyond. */
export const clockStep: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, 1, 499, 999, 1_000, 1_001),
  fc.integer({ min: 0, max: 2_500 }),
);

/** The `maxAgeMs` of the retention runs (the clock steps are chosen around it). */
export const MODEL_MAX_AGE_MS = 1_000;

/** Retention for a run: a small `maxLength` and/or `maxAgeMs`, as the store supports them. */
export function retentionOf(byLength: boolean, byAge: boolean): fc.Arbitrary<Retention> {
  return fc
    .record({
      maxLength: fc.constantFrom(1, 3, 10, 150),
      maxAgeMs: fc.constant(MODEL_MAX_AGE_MS),
    })
    .map(({ maxLength, maxAgeMs }) => ({
      ...(byLength ? { maxLength } : {}),
      ...(byAge ? { maxAgeMs } : {}),
    }));
}
