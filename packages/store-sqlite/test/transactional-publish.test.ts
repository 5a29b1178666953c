import { AssuredError, decode } from "@assured/core";
import type { CommittedRange } from "@assured/core/store";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { SCHEMA_VERSION, SqliteEventStore } from "../src/index.js";
import { spawnFixture } from "./support/child-process.js";
import { tempDatabase, useTempStores } from "./support/temp-database.js";

const waiters = new Set<() => void>();

/** A `watchCommits` listener pushing to `reports`; `until` re-checks on every report. */
function recordInto(reports: CommittedRange[]): (commit: CommittedRange) => void {
  return (commit) => {
    reports.push(commit);
    for (const check of [...waiters]) check();
  };
}

/** Resolves once `check` holds, re-checked on every report (no sleeping). */
function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      waiters.delete(test);
      clearTimeout(timer);
    };
    const test = () => {
      if (!check()) return;
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    waiters.add(test);
    test();
  });
}

function code(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof AssuredError) return `${error.code}: ${error.message}`;
    throw error;
  }
  return undefined;
}

const databases: Database.Database[] = [];
afterEach(() => {
  for (const db of databases.splice(0)) db.close();
});

/** The application's own connection to the store's file, with its own table. */
function appConnection(path: string): Database.Database {
  const db = new Database(path, { timeout: 5_000 });
  databases.push(db);
  db.exec("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)");
  return db;
}

describe("appendInTransaction", () => {
  const temp = useTempStores(
    (path, clock?: () => number) => new SqliteEventStore(clock ? { path, clock } : { path }),
  );

  it("commits the events with the application's row, reports the range after the commit, and numbers them after regular appends", async () => {
    const store = temp.open();
    const db = appConnection(temp.path);
    const reports: CommittedRange[] = [];
    const stop = store.watchCommits(recordInto(reports));
    await store.append("orders", [{ name: "before", payload: new Uint8Array([1]) }]);

    let reportsInside = -1;
    const results = db
      .transaction(() => {
        db.prepare("INSERT INTO orders (id, total) VALUES (?, ?)").run("o1", 42);
        const appended = store.appendInTransaction(db, "orders", [
          { name: "order:placed", data: { id: "o1", total: 42 } },
          { name: "order:paid", data: { id: "o1" }, id: "pay-o1" },
        ]);
        reportsInside = reports.length;
        return appended;
      })
      .immediate();
    expect(results.map((r) => [r.offset, r.duplicate])).toEqual([
      [2, false],
      [3, false],
    ]);
    expect(results[1]!.id).toBe("pay-o1");
    await store.append("orders", [{ name: "after", payload: new Uint8Array([2]) }]);

    const page = await store.read("orders", { after: 0, limit: 10 });
    expect(page.records.map((r) => [r.offset, r.name])).toEqual([
      [1, "before"],
      [2, "order:placed"],
      [3, "order:paid"],
      [4, "after"],
    ]);
    expect(decode(page.records[1]!.payload)).toEqual({ id: "o1", total: 42 });
    await until(() => reports.length === 1, "the report");
    expect(reportsInside).toBe(0);
    expect(reports).toEqual([{ stream: "orders", epoch: page.epoch, first: 2, last: 3 }]);
    stop();
  });

  it("a rolled-back transaction stores and reports nothing; the next commit takes the next offset", async () => {
    const store = temp.open();
    const db = appConnection(temp.path);
    const reports: CommittedRange[] = [];
    store.watchCommits(recordInto(reports));
    await store.append("s", [{ name: "first", payload: new Uint8Array([1]) }]);
    const before = await store.head("s");

    expect(() =>
      db.transaction(() => {
        db.prepare("INSERT INTO orders (id, total) VALUES (?, ?)").run("lost", 1);
        store.appendInTransaction(db, "s", [{ name: "lost", data: 1 }]);
        throw new Error("the application changed its mind");
      })(),
    ).toThrow("changed its mind");
    expect(db.prepare("SELECT count(*) FROM orders").pluck().get()).toBe(0);
    expect(await store.head("s")).toEqual(before);

    db.transaction(() => store.appendInTransaction(db, "s", [{ name: "kept", data: 2 }]))();
    await until(() => reports.length > 0, "the report");
    expect(reports).toEqual([{ stream: "s", epoch: before.epoch, first: 2, last: 2 }]);
    const page = await store.read("s", { after: 0, limit: 10 });
    expect(page.records.map((r) => r.name)).toEqual(["first", "kept"]);
  });

  it("ids are idempotent like append: a duplicate appends, and reports, nothing", async () => {
    const store = temp.open();
    const db = appConnection(temp.path);
    const reports: CommittedRange[] = [];
    store.watchCommits(recordInto(reports));
    const publish = () =>
      db.transaction(() =>
        store.appendInTransaction(db, "s", [
          { id: "a", name: "n", data: 1 },
          { id: "b", name: "n", data: 2 },
        ]),
      )();
    const first = publish();
    const again = publish();
    expect(again).toEqual(first.map((r) => ({ ...r, duplicate: true })));
    const [result] = await store.append("s", [{ id: "a", name: "n", payload: new Uint8Array() }]);
    expect(result!.duplicate).toBe(true);
    db.transaction(() => store.appendInTransaction(db, "s", [{ id: "c", name: "n", data: 3 }]))();
    await until(() => reports.length === 2, "two reports");
    expect(reports.map((r) => [r.first, r.last])).toEqual([
      [1, 2],
      [3, 3],
    ]);
  });

  it("on the store's own connection (the database option) the commit is reported too", async () => {
    const temp2 = tempDatabase();
    const db = new Database(temp2.path);
    databases.push(db);
    const store = new SqliteEventStore({ database: db });
    try {
      const reports: CommittedRange[] = [];
      store.watchCommits(recordInto(reports));
      db.transaction(() => store.appendInTransaction(db, "own", [{ name: "n", data: 1 }]))();
      await until(() => reports.length === 1, "the report");
      expect(reports[0]).toMatchObject({ stream: "own", first: 1, last: 1 });
      // A rolled-back one on the same connection: nothing.
      expect(() =>
        db.transaction(() => {
          store.appendInTransaction(db, "own", [{ name: "n", data: 2 }]);
          throw new Error("rollback");
        })(),
      ).toThrow("rollback");
      db.transaction(() => store.appendInTransaction(db, "own", [{ name: "n", data: 3 }]))();
      await until(() => reports.length === 2, "the second report");
      expect(reports[1]).toMatchObject({ stream: "own", first: 2, last: 2 });
    } finally {
      await store.close();
      temp2.remove();
    }
  });

  it("validates its arguments before writing, with codes", async () => {
    const store = temp.open();
    const db = appConnection(temp.path);
    const entry = { name: "n", data: 1 };
    expect(code(() => store.appendInTransaction(db, "s", [entry]))).toMatch(
      /^INVALID_ARGUMENT: .*inside the application's transaction: wrap it in db\.transaction/,
    );
    const inside = (run: () => unknown) => code(() => db.transaction(run)());
    expect(inside(() => store.appendInTransaction({} as Database.Database, "s", [entry]))).toMatch(
      /^INVALID_ARGUMENT: .*better-sqlite3 Database/,
    );
    expect(inside(() => store.appendInTransaction(db, "", [entry]))).toMatch(/^INVALID_STREAM/);
    expect(inside(() => store.appendInTransaction(db, "s", []))).toMatch(
      /^INVALID_ARGUMENT: entries must hold 1 to 10000/,
    );
    expect(
      inside(() =>
        store.appendInTransaction(db, "s", [{ name: "n", dat: 1 } as unknown as typeof entry]),
      ),
    ).toMatch(/^INVALID_ARGUMENT: unknown option "dat" of an appendInTransaction entry.*"data"/);
    expect(
      inside(() =>
        store.appendInTransaction(db, "s", [entry], { maxPayloadByte: 10 } as unknown as {
          maxPayloadBytes: number;
        }),
      ),
    ).toMatch(/^INVALID_ARGUMENT: unknown option "maxPayloadByte".*"maxPayloadBytes"/);
    expect(inside(() => store.appendInTransaction(db, "s", [{ name: "", data: 1 }]))).toMatch(
      /^INVALID_ARGUMENT: event name/,
    );
    expect(inside(() => store.appendInTransaction(db, "s", [{ name: "n", data: 1n }]))).toMatch(
      /^CODEC_ERROR/,
    );
    expect(
      inside(() =>
        store.appendInTransaction(db, "s", [{ name: "n", data: "x".repeat(100) }], {
          maxPayloadBytes: 50,
        }),
      ),
    ).toMatch(/^PAYLOAD_TOO_LARGE: event payload is 10\d bytes; the limit is 50/);
    const other = tempDatabase();
    const elsewhere = new Database(other.path);
    databases.push(elsewhere);
    expect(
      code(() => elsewhere.transaction(() => store.appendInTransaction(elsewhere, "s", [entry]))()),
    ).toMatch(/^INVALID_ARGUMENT: appendInTransaction got a connection to .*not to the store's/);
    other.remove();
    expect((await store.head("s")).head).toBe(0);
    await store.close();
    expect(inside(() => store.appendInTransaction(db, "s", [entry]))).toMatch(/^STORE_CLOSED/);
    expect(code(() => store.watchCommits(() => undefined))).toMatch(/^STORE_CLOSED/);
  });

  it("keeps the commit feed to the last minute", async () => {
    let now = 1_000_000;
    const store = temp.open(() => now);
    const db = appConnection(temp.path);
    const publish = () =>
      db.transaction(() => store.appendInTransaction(db, "s", [{ name: "n", data: 1 }]))();
    publish();
    publish();
    const rows = () => db.prepare("SELECT count(*) FROM assured_commits").pluck().get();
    expect(rows()).toBe(2);
    now += 60_001;
    publish();
    expect(rows()).toBe(1);
  });

  it("migrates a schema-3 file: adds the commit feed, keeps the events", async () => {
    const first = temp.open();
    await first.append("s", [{ name: "n", payload: new Uint8Array([7]) }]);
    await first.close();
    const old = new Database(temp.path);
    old.exec(`
      DROP TABLE assured_commits;
      UPDATE assured_meta SET value = 3 WHERE key = 'schema_version';
    `);
    old.close();
    const store = temp.open();
    const db = appConnection(temp.path);
    expect(db.prepare("SELECT value FROM assured_meta").pluck().get()).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBe(4);
    const [result] = db.transaction(() =>
      store.appendInTransaction(db, "s", [{ name: "n", data: 1 }]),
    )();
    expect(result!.offset).toBe(2);
  });
});

describe("transactional publish across processes", () => {
  const temp = useTempStores((path) => new SqliteEventStore({ path }));

  it("a child that commits and is SIGKILLed right after: the watcher here reports every range, once, in order", async () => {
    const store = temp.open();
    const reports: CommittedRange[] = [];
    store.watchCommits(recordInto(reports));
    const child = spawnFixture<{ offset: number }>("transactional-writer.ts", [
      temp.path,
      "crash",
      "20",
      "child",
      "crash",
    ]);
    const exit = await child.exited;
    expect(exit.signal ?? exit.code).not.toBe(0);
    expect(child.lines.map((l) => l.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await until(() => reports.length === 20, "20 reports");
    expect(reports.map((r) => [r.first, r.last])).toEqual(
      Array.from({ length: 20 }, (_, i) => [i + 1, i + 1]),
    );
  });

  it("several processes and a connection here publish concurrently: offsets gapless, every range reported once, in commit order", async () => {
    const store = temp.open();
    const db = appConnection(temp.path);
    const reports: CommittedRange[] = [];
    store.watchCommits(recordInto(reports));
    const children = ["a", "b", "c"].map((tag) =>
      spawnFixture<{ offset: number }>("transactional-writer.ts", [
        temp.path,
        "shared",
        "40",
        tag,
        "exit",
      ]),
    );
    for (let n = 0; n < 40; n++) {
      db.transaction(() => {
        db.prepare("INSERT INTO orders (id, total) VALUES (?, ?)").run(`here-${n}`, n);
        store.appendInTransaction(db, "shared", [{ id: `here-${n}`, name: "tx", data: n }]);
      }).immediate();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const exits = await Promise.all(children.map((c) => c.exited));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);
    await until(() => reports.length === 160, "160 reports");
    expect(reports.map((r) => r.first)).toEqual(Array.from({ length: 160 }, (_, i) => i + 1));
    const page = await store.read("shared", { after: 0, limit: 1_000 });
    expect(page.records.map((r) => r.offset)).toEqual(Array.from({ length: 160 }, (_, i) => i + 1));
    expect(new Set(page.records.map((r) => r.id)).size).toBe(160);
  });
});
