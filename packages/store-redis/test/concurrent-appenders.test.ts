import { encode } from "@assured/core";
import type { ReadResult } from "@assured/core/store";
import { afterAll, expect, it } from "vitest";
import { RedisEventStore } from "../src/index.js";
import { isolatedPrefix, redisUrl } from "./redis-fixture.js";

const prefix = isolatedPrefix();
const stores = Array.from(
  { length: 4 },
  () => new RedisEventStore({ redis: redisUrl(), keyPrefix: prefix }),
);
const readers = Array.from(
  { length: 2 },
  () => new RedisEventStore({ redis: redisUrl(), keyPrefix: prefix }),
);

afterAll(async () => {
  await Promise.all([...stores, ...readers].map((s) => s.close()));
});

const PER_APPENDER = 300;
const TOTAL = PER_APPENDER * stores.length;

/** Appends this appender's events in batches of 1–7, one call after another. */
async function appendAll(store: RedisEventStore, who: number): Promise<number[]> {
  const offsets: number[] = [];
  let sent = 0;
  while (sent < PER_APPENDER) {
    const size = Math.min(1 + ((sent * 7 + who) % 7), PER_APPENDER - sent);
    const batch = Array.from({ length: size }, (_, i) => ({
      id: `${who}-${sent + i}`,
      name: "n",
      payload: encode(sent + i),
    }));
    const results = await store.append("shared", batch);
    const first = results[0]!.offset;
    // One call's offsets are consecutive, even with other connections appending.
    expect(results.map((r) => r.offset)).toEqual(batch.map((_, i) => first + i));
    offsets.push(...results.map((r) => r.offset));
    sent += size;
  }
  return offsets;
}

/** Follows the log like a consumer cursor; fails if a page ever starts past the cursor. */
async function follow(reader: RedisEventStore): Promise<number> {
  let cursor = 0;
  let pages = 0;
  while (cursor < TOTAL) {
    const page: ReadResult = await reader.read("shared", { after: cursor, limit: 37 });
    for (const record of page.records) {
      expect(record.offset).toBe(cursor + 1);
      cursor = record.offset;
    }
    expect(page.head).toBeGreaterThanOrEqual(cursor);
    pages++;
  }
  return pages;
}

it("prefix visibility: 4 connections append concurrently; readers never see a gap", async () => {
  const [offsets, pages] = await Promise.all([
    Promise.all(stores.map((store, who) => appendAll(store, who))),
    Promise.all(readers.map(follow)),
  ]);
  const all = offsets.flat().sort((a, b) => a - b);
  expect(all).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
  expect(pages.every((n) => n > 0)).toBe(true);
  const final = await readers[0]!.read("shared", { after: 0, limit: TOTAL });
  expect(new Set(final.records.map((r) => r.id)).size).toBe(TOTAL);
});
