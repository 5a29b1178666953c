import { existsSync } from "node:fs";
import { isAssuredError } from "@assured/core";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SCHEMA_VERSION, SqliteEventStore } from "../src/index.js";
import { type TempDatabase, tempDatabase } from "./support/temp-database.js";
import { countWalCommits } from "./support/wal-commits.js";

/** What the store wrote, read back through a separate, direct better-sqlite3 connection. */
function inspect(path: string) {
  const db = new Database(path, { readonly: true });
  try {
    const streams = db
      .prepare("SELECT stream_id, stream_name, epoch, head FROM assured_streams ORDER BY stream_id")
      .all() as { stream_id: number; stream_name: string; epoch: string; head: number }[];
    const events = db
      .prepare(
        "SELECT stream_id, event_offset, event_id, event_name, payload, typeof(payload) AS type, " +
          "appended_at FROM assured_events ORDER BY stream_id, event_offset",
      )
      .all() as {
      stream_id: number;
      event_offset: number;
      event_id: string;
      event_name: string;
      payload: Buffer;
      type: string;
      appended_at: number;
    }[];
    return { streams, events };
  } finally {
    db.close();
  }
}

const bytes = (...values: number[]) => new Uint8Array(values);

describe("SqliteEventStore: what it writes to the file", () => {
  let temp: TempDatabase;
  let store: SqliteEventStore;
  let now: number;

  beforeEach(() => {
    temp = tempDatabase();
    now = 1_700_000_000_000;
    store = new SqliteEventStore({ path: temp.path, clock: () => now });
  });
  afterEach(async () => {
    await store.close();
    temp.remove();
  });

  it("stores each event as one row: gapless offsets, exact payload bytes as a BLOB, append time", async () => {
    const payloads = [
      bytes(),
      bytes(0),
      bytes(0xff, 0x00, 0x80, 0x7f),
      new Uint8Array(70_000).fill(7),
    ];
    const results = await store.append(
      "room",
      payloads.map((payload, i) => ({ id: `e${i}`, name: `n${i}`, payload })),
    );
    expect(results.map((r) => r.offset)).toEqual([1, 2, 3, 4]);

    const { streams, events } = inspect(temp.path);
    expect(streams).toEqual([
      { stream_id: expect.any(Number), stream_name: "room", epoch: results[0]!.epoch, head: 4 },
    ]);
    expect(
      events.map((e) => [e.event_offset, e.event_id, e.event_name, e.type, e.appended_at]),
    ).toEqual([
      [1, "e0", "n0", "blob", now],
      [2, "e1", "n1", "blob", now],
      [3, "e2", "n2", "blob", now],
      [4, "e3", "n3", "blob", now],
    ]);
    events.forEach((e, i) => {
      expect(new Uint8Array(e.payload)).toEqual(payloads[i]);
    });
  });

  it("payload views into a larger buffer store only the viewed bytes", async () => {
    const backing = bytes(9, 9, 1, 2, 3, 9, 9);
    await store.append("room", [{ name: "n", payload: backing.subarray(2, 5) }]);
    expect([...inspect(temp.path).events[0]!.payload]).toEqual([1, 2, 3]);
    const { records } = await store.read("room", { after: 0, limit: 10 });
    expect([...records[0]!.payload]).toEqual([1, 2, 3]);
  });

  it("a payload changed by the caller before its group is written is stored as it was at append", async () => {
    const payload = bytes(1, 2, 3);
    const appended = store.append("room", [{ name: "n", payload }]);
    payload.fill(0);
    await appended;
    expect([...inspect(temp.path).events[0]!.payload]).toEqual([1, 2, 3]);
  });

  it("group commit: appends issued in the same tick are committed in one transaction", async () => {
    await store.append("warm-up", [{ name: "n", payload: bytes(1) }]);
    const before = countWalCommits(`${temp.path}-wal`);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.append(`stream-${i % 5}`, [{ name: "n", payload: bytes(i) }]),
      ),
    );
    expect(countWalCommits(`${temp.path}-wal`) - before).toBe(1);
    for (let s = 0; s < 5; s++) {
      const offsets = results.filter((_, i) => i % 5 === s).map(([r]) => r!.offset);
      expect(offsets).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }
  });

  it("appends awaited one by one are committed one transaction each (durable on resolve)", async () => {
    await store.append("warm-up", [{ name: "n", payload: bytes(1) }]);
    const before = countWalCommits(`${temp.path}-wal`);
    for (let i = 0; i < 3; i++) await store.append("s", [{ name: "n", payload: bytes(i) }]);
    expect(countWalCommits(`${temp.path}-wal`) - before).toBe(3);
  });

  it("the epoch row is created in the same transaction as the first append", async () => {
    await store.append("warm-up", [{ name: "n", payload: bytes(1) }]);
    const before = countWalCommits(`${temp.path}-wal`);
    const [result] = await store.append("new-stream", [{ name: "n", payload: bytes(1) }]);
    expect(countWalCommits(`${temp.path}-wal`) - before).toBe(1);
    const row = inspect(temp.path).streams.find((s) => s.stream_name === "new-stream");
    expect(row).toMatchObject({ epoch: result!.epoch, head: 1 });
    expect(result!.epoch).toMatch(/^[\w-]{21}$/);
  });

  it("unknown stream: head and read return epoch '' head 0 earliest 1 and write nothing", async () => {
    expect(await store.head("nobody")).toEqual({ epoch: "", head: 0, earliest: 1 });
    expect(await store.read("nobody", { after: 0, limit: 5 })).toEqual({
      epoch: "",
      head: 0,
      earliest: 1,
      records: [],
    });
    expect(inspect(temp.path).streams).toEqual([]);
  });

  it("idempotent append: a known id adds no row and returns the original offset", async () => {
    await store.append("s", [{ id: "a", name: "n", payload: bytes(1) }]);
    const again = await store.append("s", [
      { id: "b", name: "n", payload: bytes(2) },
      { id: "a", name: "other", payload: bytes(3) },
      { id: "b", name: "n", payload: bytes(4) },
    ]);
    expect(again.map((r) => [r.offset, r.duplicate])).toEqual([
      [2, false],
      [1, true],
      [2, true],
    ]);
    const { events, streams } = inspect(temp.path);
    expect(events.map((e) => [e.event_offset, e.event_id, [...e.payload]])).toEqual([
      [1, "a", [1]],
      [2, "b", [2]],
    ]);
    expect(streams[0]!.head).toBe(2);
  });

  it("reset deletes the stream's rows, stores a new epoch and restarts offsets at 1", async () => {
    const [first] = await store.append("s", [
      { name: "n", payload: bytes(1) },
      { name: "n", payload: bytes(2) },
    ]);
    await store.append("other", [{ name: "n", payload: bytes(1) }]);
    const reset = await store.reset("s");
    expect(reset).toEqual({ epoch: expect.any(String), head: 0, earliest: 1 });
    expect(reset.epoch).not.toBe(first!.epoch);
    let file = inspect(temp.path);
    expect(file.streams.find((s) => s.stream_name === "s")).toMatchObject({
      epoch: reset.epoch,
      head: 0,
    });
    expect(file.events.map((e) => e.stream_id)).toEqual([file.streams[1]!.stream_id]);

    const [after] = await store.append("s", [{ name: "n", payload: bytes(3) }]);
    expect(after).toMatchObject({ offset: 1, epoch: reset.epoch });
    file = inspect(temp.path);
    expect(file.streams.find((s) => s.stream_name === "s")!.head).toBe(1);
  });

  it("reset issued after appends in the same tick applies after them, in order", async () => {
    const appended = store.append("s", [{ name: "n", payload: bytes(1) }]);
    const reset = store.reset("s");
    const later = store.append("s", [{ name: "n", payload: bytes(2) }]);
    const [[a], r, [b]] = await Promise.all([appended, reset, later]);
    expect(a!.offset).toBe(1);
    expect(b).toMatchObject({ offset: 1, epoch: r.epoch });
    expect(inspect(temp.path).events.map((e) => [...e.payload])).toEqual([[2]]);
  });

  it("stream names are bound as parameters: hostile names are stored verbatim and kept apart", async () => {
    const names = [
      "'; DROP TABLE assured_events; --",
      'a"b',
      "room\n*{x}$/../..",
      "🎉 emoji ✓",
      "%",
      "_",
    ];
    for (const [i, name] of names.entries()) {
      await store.append(name, [{ name: "n", payload: bytes(i) }]);
    }
    const { streams, events } = inspect(temp.path);
    expect(streams.map((s) => s.stream_name)).toEqual(names);
    expect(events).toHaveLength(names.length);
    for (const [i, name] of names.entries()) {
      const { records, head } = await store.read(name, { after: 0, limit: 10 });
      expect(head).toBe(1);
      expect([...records[0]!.payload]).toEqual([i]);
      expect(records[0]!.stream).toBe(name);
    }
  });

  it("the file is in WAL mode and records its schema version", () => {
    const db = new Database(temp.path, { readonly: true });
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(
        db.prepare("SELECT value FROM assured_meta WHERE key = 'schema_version'").pluck().get(),
      ).toBe(SCHEMA_VERSION);
    } finally {
      db.close();
    }
  });

  it("close() commits queued appends, releases the file and rejects later calls with STORE_CLOSED", async () => {
    const pending = store.append("s", [{ name: "n", payload: bytes(1) }]);
    await store.close();
    await expect(pending).resolves.toMatchObject([{ offset: 1 }]);
    // The last connection closing checkpoints the WAL and deletes it: the file is released.
    expect(existsSync(`${temp.path}-wal`)).toBe(false);
    for (const call of [
      () => store.append("s", [{ name: "n", payload: bytes(1) }]),
      () => store.read("s", { after: 0, limit: 1 }),
      () => store.head("s"),
      () => store.reset("s"),
    ]) {
      await expect(call()).rejects.toSatisfy((e) => isAssuredError(e, "STORE_CLOSED"));
    }
    await store.close();
    expect(inspect(temp.path).events).toHaveLength(1);
  });

  it("restart: a new store on the same file keeps the data, head and epoch", async () => {
    const [result] = await store.append("s", [{ name: "n", payload: bytes(1, 2) }]);
    await store.close();
    store = new SqliteEventStore({ path: temp.path, clock: () => now });
    expect(await store.head("s")).toEqual({ epoch: result!.epoch, head: 1, earliest: 1 });
    const [next] = await store.append("s", [{ name: "n", payload: bytes(3) }]);
    expect(next).toMatchObject({ offset: 2, epoch: result!.epoch });
  });
});
