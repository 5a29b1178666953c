/**
 * Micro-benchmark: SqliteEventStore appends (one at a time and group-committed) and replay
 * reads, next to raw better-sqlite3 statements on the same row shape, same pragmas, in the same
 * run: the raw figures are the ceiling. Run: pnpm --filter @assured/store-sqlite bench
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { type AppendEntry, newId } from "@assured/core/store";
import Database from "better-sqlite3";
import { SqliteEventStore } from "../src/index.js";

/** Alternating rounds per measurement; the table shows each side's median. */
const ROUNDS = 5;
const SINGLE = 1_000;
const PER_ROUND = 10_000;
const BATCH = 1_000;
const PAGE = 1_000;
const PAYLOAD = new Uint8Array(128).fill(42);

const dir = mkdtempSync(join(tmpdir(), "assured-sqlite-bench-"));
let files = 0;
const nextPath = () => join(dir, `bench-${files++}.sqlite`);

function perSecond(count: number, ms: number): number {
  return Math.round((count / ms) * 1_000);
}

async function timed(count: number, run: () => Promise<void> | void): Promise<number> {
  const start = performance.now();
  await run();
  return perSecond(count, performance.now() - start);
}

/**
 * How raw rows get their ids: like the store's generated ids (a random prefix per transaction
 * and a counter), or one random id per event, like publisher-given ids.
 */
type IdScheme = "generated" | "random";

/** A raw database with the store's own pragmas and the same events table and index. */
function rawDatabase(ids: IdScheme = "generated") {
  const db = new Database(nextPath());
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec(`CREATE TABLE events (
    stream_id INTEGER NOT NULL, event_offset INTEGER NOT NULL, event_id TEXT NOT NULL,
    event_name TEXT NOT NULL, payload BLOB NOT NULL, appended_at INTEGER NOT NULL,
    PRIMARY KEY (stream_id, event_offset)) WITHOUT ROWID;
    CREATE UNIQUE INDEX events_by_id ON events (stream_id, event_id);`);
  const insert = db.prepare("INSERT INTO events VALUES (1, ?, ?, 'bench', ?, ?)");
  // Rows as arrays (the fastest better-sqlite3 mode), as the store reads them.
  const page = db
    .prepare(
      "SELECT event_offset, event_id, event_name, payload, appended_at FROM events " +
        "WHERE stream_id = 1 AND event_offset > ? ORDER BY event_offset LIMIT ?",
    )
    .raw();
  const payload = Buffer.from(PAYLOAD);
  let offset = 0;
  let prefix = "";
  const insertOne = (i = 0) => {
    offset++;
    const id = ids === "random" ? newId() : `${prefix || newId()}.${i.toString(36)}`;
    insert.run(offset, id, payload, Date.now());
  };
  const insertMany = db.transaction((n: number) => {
    prefix = newId();
    for (let i = 0; i < n; i++) insertOne(i);
    prefix = "";
  });
  return { db, insertOne, insertMany, page };
}

const entry = () => ({ name: "bench", payload: PAYLOAD });
const randomIdEntry = () => ({ id: newId(), name: "bench", payload: PAYLOAD });

/**
 * Times `assured` and `raw` in alternating rounds (so both see the same machine load) and
 * returns the median rate of each.
 */
async function compare(
  count: number,
  assured: () => Promise<void> | void,
  raw: () => Promise<void> | void,
): Promise<[number, number]> {
  const a: number[] = [];
  const b: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    a.push(await timed(count, assured));
    b.push(await timed(count, raw));
  }
  const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  return [median(a), median(b)];
}

async function groupOfAppends(store: SqliteEventStore, make: () => AppendEntry): Promise<void> {
  for (let done = 0; done < PER_ROUND; done += BATCH) {
    await Promise.all(Array.from({ length: BATCH }, () => store.append("bench", [make()])));
  }
}

async function main(): Promise<void> {
  const rows: [string, number, number][] = [];
  const single = new SqliteEventStore({ path: nextPath() });
  const grouped = new SqliteEventStore({ path: nextPath() });
  const perCall = new SqliteEventStore({ path: nextPath() });
  const randomIds = new SqliteEventStore({ path: nextPath() });
  const [rawSingle, rawGrouped, rawPerCall, rawRandom] = [
    rawDatabase(),
    rawDatabase(),
    rawDatabase(),
    rawDatabase("random"),
  ];
  const callEntries = Array.from({ length: BATCH }, entry);

  const [singleA, singleR] = await compare(
    SINGLE,
    async () => {
      for (let i = 0; i < SINGLE; i++) await single.append("bench", [entry()]);
    },
    () => {
      for (let i = 0; i < SINGLE; i++) rawSingle.insertOne();
    },
  );
  rows.push(["append, one at a time (events/s)", singleA, singleR]);

  const [groupA, groupR] = await compare(
    PER_ROUND,
    () => groupOfAppends(grouped, entry),
    () => {
      for (let done = 0; done < PER_ROUND; done += BATCH) rawGrouped.insertMany(BATCH);
    },
  );
  rows.push([`append, ${BATCH} per tick, group commit (events/s)`, groupA, groupR]);

  const [callA, callR] = await compare(
    PER_ROUND,
    async () => {
      for (let done = 0; done < PER_ROUND; done += BATCH)
        await perCall.append("bench", callEntries);
    },
    () => {
      for (let done = 0; done < PER_ROUND; done += BATCH) rawPerCall.insertMany(BATCH);
    },
  );
  rows.push([`append, ${BATCH} entries per call (events/s)`, callA, callR]);

  const [randomA, randomR] = await compare(
    PER_ROUND,
    () => groupOfAppends(randomIds, randomIdEntry),
    () => {
      for (let done = 0; done < PER_ROUND; done += BATCH) rawRandom.insertMany(BATCH);
    },
  );
  rows.push([`append, random publisher ids, ${BATCH} per tick (events/s)`, randomA, randomR]);

  // Replay: read the whole grouped stream (ROUNDS × PER_ROUND events) in pages.
  const total = ROUNDS * PER_ROUND;
  const [replayA, replayR] = await compare(
    total,
    async () => {
      for (let after = 0; after < total; after += PAGE) {
        await grouped.read("bench", { after, limit: PAGE });
      }
    },
    () => {
      for (let after = 0; after < total; after += PAGE) rawGrouped.page.all(after, PAGE);
    },
  );
  rows.push([`replay, pages of ${PAGE} (events/s)`, replayA, replayR]);

  for (const store of [single, grouped, perCall, randomIds]) await store.close();
  for (const raw of [rawSingle, rawGrouped, rawPerCall, rawRandom]) raw.db.close();
  printTable(rows);
}

function printTable(rows: [string, number, number][]): void {
  const header = ["operation", "SqliteEventStore", "raw better-sqlite3", "ratio"];
  const body = rows.map(([name, assured, raw]) => [
    name,
    assured.toLocaleString("en-US"),
    raw.toLocaleString("en-US"),
    `${(assured / raw).toFixed(2)}×`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  console.log(
    `payload ${PAYLOAD.byteLength} B, synchronous=NORMAL, WAL, files in ${tmpdir()}, ` +
      `median of ${ROUNDS} alternating rounds`,
  );
  console.log(line(header));
  console.log(
    `|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`,
  );
  for (const row of body) console.log(line(row));
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
