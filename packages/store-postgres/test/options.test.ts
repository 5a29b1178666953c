import { isAssuredError } from "@assured/core";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { PostgresDedupStore, PostgresEventStore } from "../src/index.js";
import { postgresUrl, useStores } from "./fixture.js";

const stores = useStores();
const payload = new Uint8Array([1]);

function invalid(make: () => unknown, mentions: string): void {
  let error: unknown;
  try {
    make();
  } catch (e) {
    error = e;
  }
  expect(isAssuredError(error, "INVALID_ARGUMENT"), String(error)).toBe(true);
  expect((error as Error).message).toContain(mentions);
}

describe("options", () => {
  const url = postgresUrl;
  it.each([
    [
      "a misspelled option, suggesting the valid one",
      { connection: url, retentoin: {} },
      'unknown option "retentoin" of PostgresEventStore — did you mean "retention"? (see',
    ],
    ["no connection", {}, "connection"],
    ["a non-URL connection", { connection: "mysql://x" }, "connection"],
    ["a bad schema", { connection: url, schema: 'a"; DROP' }, "schema"],
    ["a schema starting with a digit", { connection: url, schema: "1a" }, "schema"],
    ["a bad table prefix", { connection: url, tablePrefix: "a-b" }, "tablePrefix"],
    ["an empty table prefix", { connection: url, tablePrefix: "" }, "tablePrefix"],
    ["a clock that is not a function", { connection: url, clock: 5 }, "clock"],
    ["pool options that are not an object", { connection: url, poolOptions: 3 }, "poolOptions"],
    [
      "retention with a misspelled bound",
      { connection: url, retention: { maxLen: 3 } },
      '"maxLen" of retention — did you mean "maxLength"?',
    ],
    ["a zero maxLength", { connection: url, retention: { maxLength: 0 } }, "maxLength"],
    ["a fractional maxAgeMs", { connection: url, retention: { maxAgeMs: 1.5 } }, "maxAgeMs"],
    ["a zero maxQueuedEntries", { connection: url, maxQueuedEntries: 0 }, "maxQueuedEntries"],
    ["a fractional maxPayloadBytes", { connection: url, maxPayloadBytes: 1.5 }, "maxPayloadBytes"],
    [
      "a misspelled maxPayloadBytes",
      { connection: url, maxPayloadByte: 10 },
      'did you mean "maxPayloadBytes"?',
    ],
    [
      "preparedStatements that is not a boolean",
      { connection: url, preparedStatements: 0 },
      "preparedStatements",
    ],
  ])("PostgresEventStore refuses %s with INVALID_ARGUMENT", (_, options, mentions) => {
    invalid(() => new PostgresEventStore(options as never), mentions);
  });

  it.each([
    [
      "an option close to no valid one, suggesting none",
      { connection: postgresUrl, retention: {} },
      'unknown option "retention" of PostgresDedupStore (see PostgresDedupStoreOptions).',
    ],
    [
      "a negative sweep interval",
      { connection: postgresUrl, sweepIntervalMs: -1 },
      "sweepIntervalMs",
    ],
    ["options that are not an object", null, "options"],
    [
      "preparedStatements that is not a boolean",
      { connection: postgresUrl, preparedStatements: "false" },
      'preparedStatements must be a boolean, got "false"',
    ],
    [
      "a misspelled preparedStatements",
      { connection: postgresUrl, preparedStatement: false },
      'did you mean "preparedStatements"?',
    ],
  ])("PostgresDedupStore refuses %s with INVALID_ARGUMENT", (_, options, mentions) => {
    invalid(() => new PostgresDedupStore(options as never), mentions);
  });

  it("refuses poolOptions next to a Pool of the caller's", () => {
    const pool = new pg.Pool({ connectionString: postgresUrl });
    invalid(
      () => new PostgresEventStore({ connection: pool, poolOptions: { max: 2 } }),
      "poolOptions",
    );
    void pool.end();
  });

  it("refuses a clock reading that is not a finite number with INVALID_ARGUMENT", async () => {
    const store = stores.events(stores.schema("clock"), { clock: () => Number.NaN });
    const error = await store.append("s", [{ name: "e", payload }]).catch((e: unknown) => e);
    expect(isAssuredError(error, "INVALID_ARGUMENT"), String(error)).toBe(true);
  });
});

describe("connection ownership", () => {
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 2 });
  afterAll(async () => {
    await pool.end();
  });

  it("borrows a Pool of the caller's and leaves it open after close()", async () => {
    const schema = stores.schema("borrowed");
    const events = new PostgresEventStore({ connection: pool, schema });
    const dedup = new PostgresDedupStore({ connection: pool, schema });
    await events.append("s", [{ name: "e", payload }]);
    await dedup.claim("k", { leaseMs: 1_000, fingerprint: "f" });
    await events.close();
    await dedup.close();
    const { rows } = await pool.query(`SELECT head FROM "${schema}".assured_streams`);
    expect(Number(rows[0].head)).toBe(1);
  });

  it("rejects every method with STORE_CLOSED after close(), which may be called twice", async () => {
    const schema = stores.schema("closed");
    const events = stores.events(schema);
    const dedup = stores.dedup(schema);
    await events.append("s", [{ name: "e", payload }]);
    await events.close();
    await events.close();
    await dedup.close();
    for (const call of [
      () => events.append("s", [{ name: "e", payload }]),
      () => events.read("s", { after: 0, limit: 1 }),
      () => events.head("s"),
      () => events.reset("s"),
      () => dedup.claim("k", { leaseMs: 1, fingerprint: "f" }),
      () => dedup.renew("k", "t", 1),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(isAssuredError(error, "STORE_CLOSED"), String(error)).toBe(true);
    }
  });

  it("commits appends issued before close() instead of dropping them", async () => {
    const schema = stores.schema("drain");
    const events = stores.events(schema);
    const pending = events.append("s", [{ id: "last", name: "e", payload }]);
    await events.close();
    expect((await pending)[0]!.offset).toBe(1);
    expect((await stores.events(schema).head("s")).head).toBe(1);
  });
});
