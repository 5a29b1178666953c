import type { Retention } from "@assured/core/store";
import Database from "better-sqlite3";
import { beforeEach, describe, expect, it } from "vitest";
import { SqliteEventStore } from "../src/index.js";
import { useTempStores } from "./support/temp-database.js";

const entry = (i: number) => ({ id: `e${i}`, name: "n", payload: new Uint8Array([i]) });

function storedOffsets(path: string): number[] {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare("SELECT event_offset FROM assured_events ORDER BY event_offset")
      .pluck()
      .all() as number[];
  } finally {
    db.close();
  }
}

describe("SqliteEventStore retention", () => {
  let now: number;
  const clock = () => now;
  const temp = useTempStores(
    (path, retention: Retention | undefined, sweepIntervalMs?: number) =>
      new SqliteEventStore({ path, clock, retention, sweepIntervalMs }),
  );
  const open = (retention: Retention) => temp.open(retention);

  beforeEach(() => {
    now = 1_700_000_000_000;
  });

  it("G6: by length, keeps the newest maxLength rows and deletes older ones from the file", async () => {
    const store = open({ maxLength: 3 });
    for (let i = 1; i <= 5; i++) await store.append("s", [entry(i)]);
    expect(storedOffsets(temp.path)).toEqual([3, 4, 5]);
    expect(await store.head("s")).toMatchObject({ head: 5, earliest: 3 });
    const page = await store.read("s", { after: 0, limit: 10 });
    expect(page.records.map((r) => r.offset)).toEqual([3, 4, 5]);
  });

  it("G6: by length, a batch larger than maxLength keeps only its newest events", async () => {
    const store = open({ maxLength: 2 });
    await store.append("s", [entry(1), entry(2), entry(3), entry(4)]);
    expect(storedOffsets(temp.path)).toEqual([3, 4]);
  });

  it("G6: by age, events older than maxAgeMs are hidden at once and deleted at the next append", async () => {
    const store = open({ maxAgeMs: 1_000 });
    await store.append("s", [entry(1)]);
    now += 600;
    await store.append("s", [entry(2)]);
    now += 500; // event 1 is 1,100 ms old, event 2 is 500 ms old
    expect(await store.head("s")).toMatchObject({ head: 2, earliest: 2 });
    expect((await store.read("s", { after: 0, limit: 10 })).records.map((r) => r.offset)).toEqual([
      2,
    ]);
    expect(storedOffsets(temp.path)).toEqual([1, 2]); // reads write nothing
    await store.append("s", [entry(3)]);
    expect(storedOffsets(temp.path)).toEqual([2, 3]);
  });

  it("G6: by age, when every event expired, earliest is head + 1", async () => {
    const store = open({ maxAgeMs: 1_000 });
    await store.append("s", [entry(1), entry(2)]);
    now += 5_000;
    expect(await store.head("s")).toMatchObject({ head: 2, earliest: 3 });
    expect((await store.read("s", { after: 0, limit: 10 })).records).toEqual([]);
  });

  it("an id whose event was trimmed can be appended again (idempotency window = retention)", async () => {
    const store = open({ maxAgeMs: 1_000 });
    await store.append("s", [entry(1)]);
    now += 2_000;
    const [again] = await store.append("s", [entry(1)]);
    expect(again).toMatchObject({ offset: 2, duplicate: false });
    expect(storedOffsets(temp.path)).toEqual([2]);
  });

  it("a store opened with a smaller maxLength hides the excess before any append", async () => {
    const wide = open({});
    await wide.append("s", [entry(1), entry(2), entry(3), entry(4)]);
    const narrow = open({ maxLength: 2 });
    expect(await narrow.head("s")).toMatchObject({ head: 4, earliest: 3 });
  });

  it("G11: trimExpired deletes expired events of streams that get no appends", async () => {
    const store = open({ maxAgeMs: 1_000 });
    await store.append("idle-1", [entry(1), entry(2)]);
    await store.append("idle-2", [entry(3)]);
    now += 500;
    await store.append("fresh", [entry(4)]);
    now += 600;
    expect(await store.trimExpired()).toBe(3);
    expect(storedOffsets(temp.path)).toEqual([1]); // only "fresh" keeps its event
    expect(await store.head("idle-1")).toMatchObject({ head: 2, earliest: 3 });
    const [next] = await store.append("idle-1", [entry(5)]);
    expect(next).toMatchObject({ offset: 3 });
  });

  it("G11: trimExpired works through more streams than one transaction holds", async () => {
    const store = open({ maxAgeMs: 1_000 });
    await Promise.all(Array.from({ length: 1_200 }, (_, i) => store.append(`s${i}`, [entry(i)])));
    now += 2_000;
    expect(await store.trimExpired()).toBe(1_200);
    expect(storedOffsets(temp.path)).toEqual([]);
  });

  it("the sweep timer trims idle streams on its own, and only with retention", async () => {
    const keepAll = temp.open(undefined, 5);
    expect(await keepAll.trimExpired()).toBe(0);
    const store = temp.open({ maxAgeMs: 1_000 }, 5);
    await store.append("idle", [entry(1)]);
    now += 2_000;
    await expect.poll(() => storedOffsets(temp.path), { interval: 5, timeout: 5_000 }).toEqual([]);
  });
});
