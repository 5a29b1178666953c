import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AssuredError, isAssuredError } from "@assured/core";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createSqliteStores,
  SCHEMA_VERSION,
  SqliteDedupStore,
  SqliteEventStore,
} from "../src/index.js";
import { type TempDatabase, tempDatabase } from "./support/temp-database.js";

const code = (c: string) => (e: unknown) => isAssuredError(e) && e.code === c;

describe("options, durability levels, schema versions and driver errors", () => {
  let temp: TempDatabase;
  beforeEach(() => {
    temp = tempDatabase();
  });
  afterEach(() => {
    temp.remove();
  });

  it("G12: bad options are rejected with INVALID_ARGUMENT before anything is opened", () => {
    const shared: unknown[] = [
      undefined,
      null,
      "file.sqlite",
      {},
      { path: "" },
      { path: 42 },
      { path: temp.path, database: new Database(":memory:") },
      { database: {} },
      { path: temp.path, synchronous: "fast" },
      { path: temp.path, busyTimeoutMs: -1 },
      { path: temp.path, busyTimeoutMs: 1.5 },
      { path: temp.path, busyTimeoutMs: 10 * 60_000 },
      { path: temp.path, clock: 5 },
    ];
    const forEvents = [
      { path: temp.path, retention: 3 },
      { path: temp.path, retention: { maxLength: 0 } },
      { path: temp.path, retention: { maxAgeMs: Number.NaN } },
    ];
    const forDedup = [{ path: temp.path, sweepIntervalMs: -5 }];
    const cases: [(options: never) => unknown, unknown[]][] = [
      [(o) => new SqliteEventStore(o), [...shared, ...forEvents]],
      [(o) => new SqliteDedupStore(o), [...shared, ...forDedup]],
      [(o) => createSqliteStores(o), [...shared, ...forEvents, ...forDedup]],
    ];
    for (const [make, options] of cases) {
      for (const option of options) {
        expect(() => make(option as never)).toThrow(
          expect.objectContaining({ name: "AssuredError", code: "INVALID_ARGUMENT" }),
        );
      }
    }
    expect(existsSync(temp.path)).toBe(false);
  });

  it("G12: a misspelled option name is refused with the closest valid one; a far one gets none", () => {
    const path = temp.path;
    expect(() => new SqliteEventStore({ path, retension: {} } as never)).toThrow(
      'unknown option "retension" of SqliteEventStore — did you mean "retention"? (see SqliteEventStoreOptions).',
    );
    expect(() => createSqliteStores({ path, retention: { maxAgeMS: 5 } } as never)).toThrow(
      'unknown option "maxAgeMS" of retention — did you mean "maxAgeMs"?',
    );
    expect(() => new SqliteDedupStore({ path, bogus: 1 } as never)).toThrow(
      'unknown option "bogus" of SqliteDedupStore (see SqliteDedupStoreOptions).',
    );
    expect(existsSync(temp.path)).toBe(false);
  });

  it("G12: unknown option names, also in retention, are refused naming them, before anything is opened", () => {
    const refused = (make: () => unknown, name: string) =>
      expect(make).toThrow(
        expect.objectContaining({
          code: "INVALID_ARGUMENT",
          message: expect.stringContaining(`unknown option "${name}"`),
        }),
      );
    const path = temp.path;
    refused(() => new SqliteEventStore({ path, bogus: 1 } as never), "bogus");
    refused(() => new SqliteEventStore({ path, maxEntries: 5 } as never), "maxEntries");
    refused(() => new SqliteDedupStore({ path, maxEntry: 5 } as never), "maxEntry");
    refused(() => new SqliteDedupStore({ path, retention: {} } as never), "retention");
    refused(() => createSqliteStores({ path, bogus: 1 } as never), "bogus");
    refused(() => createSqliteStores({ path, retention: { maxLenght: 5 } } as never), "maxLenght");
    refused(() => new SqliteEventStore({ path, retention: { maxAge: 5 } } as never), "maxAge");
    expect(existsSync(temp.path)).toBe(false);
    // createSqliteStores takes both stores' options and gives each store its own.
    const stores = createSqliteStores({
      path,
      retention: { maxLength: 5 },
      maxEntries: 5,
      sweepIntervalMs: 0,
    });
    return stores.close();
  });

  it("G12: bad arguments reject with typed errors and leave the file untouched", async () => {
    const store = new SqliteEventStore({ path: temp.path });
    const payload = new Uint8Array([1]);
    await expect(store.append("", [{ name: "n", payload }])).rejects.toSatisfy(
      code("INVALID_STREAM"),
    );
    await expect(store.append("x".repeat(257), [{ name: "n", payload }])).rejects.toSatisfy(
      code("INVALID_STREAM"),
    );
    await expect(store.append("s", [])).rejects.toSatisfy(code("INVALID_ARGUMENT"));
    await expect(store.append("s", [{ name: "n", payload: "text" as never }])).rejects.toSatisfy(
      code("INVALID_ARGUMENT"),
    );
    await expect(store.append("s", [{ name: "", payload }])).rejects.toSatisfy(
      code("INVALID_ARGUMENT"),
    );
    await expect(store.append("s", [{ id: 5 as never, name: "n", payload }])).rejects.toSatisfy(
      code("INVALID_ARGUMENT"),
    );
    await expect(store.read("s", { after: -1, limit: 1 })).rejects.toSatisfy(
      code("INVALID_OFFSET"),
    );
    await expect(store.read("s", { after: 0, limit: 0 })).rejects.toSatisfy(
      code("INVALID_ARGUMENT"),
    );
    await expect(store.read("s", null as never)).rejects.toSatisfy(code("INVALID_ARGUMENT"));
    expect(await store.head("s")).toEqual({ epoch: "", head: 0, earliest: 1 });
    await store.close();
  });

  it("G12: a clock that returns a non-number fails the operation typed and writes nothing", async () => {
    let reading: unknown = Number.NaN;
    const store = new SqliteEventStore({ path: temp.path, clock: () => reading as number });
    await expect(
      store.append("s", [{ name: "n", payload: new Uint8Array([1]) }]),
    ).rejects.toSatisfy(code("INVALID_ARGUMENT"));
    reading = 5;
    await expect(
      store.append("s", [{ name: "n", payload: new Uint8Array([1]) }]),
    ).resolves.toMatchObject([{ offset: 1 }]);
    await store.close();
  });

  it("durability: the default synchronous level is NORMAL and each level reaches the connection", async () => {
    const levels = { off: 0, normal: 1, full: 2, extra: 3 } as const;
    for (const [level, value] of Object.entries(levels)) {
      const db = new Database(temp.path);
      const store = new SqliteEventStore({
        database: db,
        synchronous: level as keyof typeof levels,
      });
      expect(db.pragma("synchronous", { simple: true })).toBe(value);
      await store.close();
      db.close();
    }
    const db = new Database(temp.path);
    const store = new SqliteEventStore({ database: db });
    expect(db.pragma("synchronous", { simple: true })).toBe(1);
    expect(db.pragma("busy_timeout", { simple: true })).toBe(5_000);
    await store.close();
    db.close();
  });

  it("a given database stays open after close(), and shares the file with the application", async () => {
    const db = new Database(temp.path);
    db.exec("CREATE TABLE app_table (x INTEGER)");
    db.pragma("user_version = 7");
    const store = new SqliteEventStore({ database: db });
    await store.append("s", [{ name: "n", payload: new Uint8Array([1]) }]);
    await store.close();
    expect(db.open).toBe(true);
    expect(db.pragma("user_version", { simple: true })).toBe(7);
    expect(db.prepare("SELECT count(*) FROM assured_events").pluck().get()).toBe(1);
    db.close();
  });

  it("schema versioning: a file from a newer release is refused with STORE_CORRUPT, not touched", async () => {
    const store = new SqliteEventStore({ path: temp.path });
    await store.close();
    const db = new Database(temp.path);
    db.prepare("UPDATE assured_meta SET value = ? WHERE key = 'schema_version'").run(
      SCHEMA_VERSION + 1,
    );
    db.close();
    for (const open of [
      () => new SqliteEventStore({ path: temp.path }),
      () => new SqliteDedupStore({ path: temp.path }),
    ]) {
      expect(open).toThrow(
        expect.objectContaining({
          code: "STORE_CORRUPT",
          details: { schemaVersion: SCHEMA_VERSION + 1, supportedVersion: SCHEMA_VERSION },
        }),
      );
    }
    const check = new Database(temp.path, { readonly: true });
    expect(check.prepare("SELECT value FROM assured_meta").pluck().get()).toBe(SCHEMA_VERSION + 1);
    check.close();
  });

  it("schema versioning: opening an existing current file migrates nothing and keeps data", async () => {
    const first = new SqliteEventStore({ path: temp.path });
    await first.append("s", [{ name: "n", payload: new Uint8Array([1]) }]);
    await first.close();
    const second = new SqliteEventStore({ path: temp.path });
    expect(await second.head("s")).toMatchObject({ head: 1 });
    await second.close();
  });

  it("a path in a missing directory creates the directory (mkdir -p) and opens the file", async () => {
    const nested = join(temp.path, "..", "data", "deeper", "x.sqlite");
    const store = new SqliteEventStore({ path: nested });
    await store.append("s", [{ name: "n", payload: new Uint8Array([1]) }]);
    await store.close();
    expect(existsSync(nested)).toBe(true);
    const stores = createSqliteStores({ path: join(temp.path, "..", "other", "y.sqlite") });
    await stores.close();
    expect(existsSync(join(temp.path, "..", "other", "y.sqlite"))).toBe(true);
  });

  it("INVALID_ARGUMENT: a directory that cannot be created names the path and the system's reason", () => {
    writeFileSync(temp.path, "a regular file, not a directory");
    const underFile = join(temp.path, "sub", "x.sqlite");
    for (const make of [
      () => new SqliteEventStore({ path: underFile }),
      () => new SqliteDedupStore({ path: underFile }),
      () => createSqliteStores({ path: underFile }),
    ]) {
      expect(make).toThrow(
        expect.objectContaining({
          name: "AssuredError",
          code: "INVALID_ARGUMENT",
          message: expect.stringContaining(`of path ${JSON.stringify(underFile)}: ENOTDIR`),
        }),
      );
    }
  });

  it("STORE_UNAVAILABLE: a file that cannot be opened is a typed error, never a raw driver error", () => {
    const dirAsFile = join(temp.path, "..", "a-directory");
    mkdirSync(dirAsFile);
    expect(() => new SqliteDedupStore({ path: dirAsFile })).toThrow(
      expect.objectContaining({ code: "STORE_UNAVAILABLE" }),
    );
  });

  it("STORE_UNAVAILABLE: a write lock held too long by another connection rejects typed, then recovers", async () => {
    const store = new SqliteEventStore({ path: temp.path, busyTimeoutMs: 0 });
    const dedup = new SqliteDedupStore({ path: temp.path, busyTimeoutMs: 0 });
    const other = new Database(temp.path);
    other.exec("BEGIN IMMEDIATE");
    const failure = await store
      .append("s", [{ name: "n", payload: new Uint8Array([1]) }])
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(AssuredError);
    expect(failure).toMatchObject({ code: "STORE_UNAVAILABLE" });
    expect((failure as AssuredError).cause).toMatchObject({ code: "SQLITE_BUSY" });
    await expect(dedup.claim("k", { leaseMs: 10, fingerprint: "f" })).rejects.toSatisfy(
      code("STORE_UNAVAILABLE"),
    );
    other.exec("ROLLBACK");
    await expect(
      store.append("s", [{ name: "n", payload: new Uint8Array([1]) }]),
    ).resolves.toMatchObject([{ offset: 1 }]);
    other.close();
    await store.close();
    await dedup.close();
  });

  it("STORE_UNAVAILABLE: a table dropped under a running store is reported typed on every method", async () => {
    const store = new SqliteEventStore({ path: temp.path });
    await store.append("s", [{ name: "n", payload: new Uint8Array([1]) }]);
    const other = new Database(temp.path);
    other.exec("DROP TABLE assured_events");
    other.close();
    await expect(
      store.append("s", [{ name: "n", payload: new Uint8Array([1]) }]),
    ).rejects.toSatisfy(code("STORE_UNAVAILABLE"));
    await expect(store.read("s", { after: 0, limit: 1 })).rejects.toSatisfy(
      code("STORE_UNAVAILABLE"),
    );
    await store.close();
  });

  it("createSqliteStores: both stores share one connection, which closes with the last store", async () => {
    const stores = createSqliteStores({ path: temp.path, retention: { maxLength: 5 } });
    await stores.eventStore.append("s", [{ name: "n", payload: new Uint8Array([1]) }]);
    await stores.dedupStore.claim("k", { leaseMs: 1_000, fingerprint: "f" });
    await stores.eventStore.close();
    await expect(
      stores.dedupStore.claim("k2", { leaseMs: 1_000, fingerprint: "f" }),
    ).resolves.toMatchObject({
      status: "claimed",
    });
    await stores.close();
    await expect(stores.dedupStore.claim("k3", { leaseMs: 1, fingerprint: "f" })).rejects.toSatisfy(
      code("STORE_CLOSED"),
    );
    const db = new Database(temp.path, { readonly: true });
    expect(db.prepare("SELECT count(*) FROM assured_dedup").pluck().get()).toBe(2);
    db.close();
  });
});
