import { decode, isAssuredError } from "@assured/core";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { CommitReports, transaction } from "./commit-reports.js";
import { postgresUrl, useStores } from "./fixture.js";

const stores = useStores();
const app = new pg.Pool({ connectionString: postgresUrl, max: 4 });
app.on("error", () => undefined);
afterAll(() => app.end());

async function ordersTable(schema: string): Promise<string> {
  const table = `"${schema}".orders`;
  await (await stores.admin()).query(
    `CREATE SCHEMA IF NOT EXISTS "${schema}"; CREATE TABLE ${table} (id int PRIMARY KEY)`,
  );
  return table;
}

async function expectCode(call: () => Promise<unknown>, code: string, text?: string) {
  const error = await call().then(
    () => new Error("resolved"),
    (e: unknown) => e,
  );
  expect(isAssuredError(error, code as never), String(error)).toBe(true);
  if (text !== undefined) expect((error as Error).message).toContain(text);
}

describe("appendInTransaction: events commit and roll back with the application's writes", () => {
  it("reports a commit within milliseconds, and read() returns the events", async () => {
    const schema = stores.schema("txcommit");
    const orders = await ordersTable(schema);
    const store = stores.events(schema);
    const reports = new CommitReports(store);
    await store.watchingCommits();
    const stream = "orders:é\u0000😀";

    const results = await transaction(app, async (client) => {
      await client.query(`INSERT INTO ${orders} (id) VALUES (1)`);
      const appended = await store.appendInTransaction(client, stream, [
        { name: "order:placed", data: { id: 1, total: 12.5 } },
        { name: "order:paid", data: { id: 1 }, id: "paid-1" },
      ]);
      // Not visible, not reported before COMMIT.
      expect((await store.head(stream)).head).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(reports.all).toEqual([]);
      return appended;
    });
    const committedAt = performance.now();
    expect(results.map((r) => [r.offset, r.duplicate])).toEqual([
      [1, false],
      [2, false],
    ]);
    expect(results[1]!.id).toBe("paid-1");
    await reports.reached(stream, 2);
    expect(performance.now() - committedAt).toBeLessThan(1_000);
    expect(reports.all).toEqual([{ stream, epoch: results[0]!.epoch, first: 1, last: 2 }]);

    const page = await store.read(stream, { after: 0, limit: 10 });
    expect(page.records.map((r) => [r.offset, r.name, decode(r.payload)])).toEqual([
      [1, "order:placed", { id: 1, total: 12.5 }],
      [2, "order:paid", { id: 1 }],
    ]);
    // The regular append continues the same log.
    expect(
      (await store.append(stream, [{ name: "e", payload: new Uint8Array([1]) }]))[0]!.offset,
    ).toBe(3);
  });

  it("stores and reports nothing for a rolled-back transaction, and uses no offsets", async () => {
    const schema = stores.schema("txrollback");
    const orders = await ordersTable(schema);
    const store = stores.events(schema);
    const reports = new CommitReports(store);
    await store.watchingCommits();

    const client = await app.connect();
    try {
      await client.query("BEGIN");
      await client.query(`INSERT INTO ${orders} (id) VALUES (7)`);
      await store.appendInTransaction(client, "s", [{ name: "gone", data: 1 }]);
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
    // A later commit is reported; PostgreSQL delivers in commit order, so an earlier report
    // would have come first.
    const [kept] = await transaction(app, (c) =>
      store.appendInTransaction(c, "s", [{ name: "kept", data: 2 }]),
    );
    await reports.reached("s", 1);
    expect(kept!.offset).toBe(1);
    expect(reports.all).toEqual([{ stream: "s", epoch: kept!.epoch, first: 1, last: 1 }]);
    const page = await store.read("s", { after: 0, limit: 10 });
    expect(page.records.map((r) => r.name)).toEqual(["kept"]);
    expect((await (await stores.admin()).query(`SELECT * FROM ${orders}`)).rows).toEqual([]);
  });

  it("keeps ids idempotent inside a transaction and reports only new events", async () => {
    const schema = stores.schema("txids");
    const store = stores.events(schema);
    const reports = new CommitReports(store);
    await store.watchingCommits();
    const [a] = await transaction(app, (c) =>
      store.appendInTransaction(c, "s", [{ name: "e", data: "a", id: "a" }]),
    );
    const second = await transaction(app, async (c) => {
      const first = await store.appendInTransaction(c, "s", [
        { name: "e", data: "a again", id: "a" },
        { name: "e", data: "b", id: "b" },
        { name: "e", data: "b again", id: "b" },
      ]);
      // A second call in the same transaction sees the first one's ids.
      const again = await store.appendInTransaction(c, "s", [{ name: "e", data: "b", id: "b" }]);
      return [...first, ...again];
    });
    expect(second.map((r) => [r.id, r.offset, r.duplicate])).toEqual([
      ["a", 1, true],
      ["b", 2, false],
      ["b", 2, true],
      ["b", 2, true],
    ]);
    // A transaction of duplicates only notifies nothing.
    await transaction(app, (c) =>
      store.appendInTransaction(c, "s", [{ name: "e", data: "a", id: "a" }]),
    );
    await transaction(app, (c) => store.appendInTransaction(c, "s", [{ name: "e", data: "c" }]));
    await reports.reached("s", 3);
    expect(reports.all.map((r) => [r.first, r.last])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(reports.all.every((r) => r.epoch === a!.epoch)).toBe(true);
    // The same id through the regular append is a duplicate too (one log, one id index).
    expect(
      (await store.append("s", [{ id: "b", name: "e", payload: new Uint8Array() }]))[0],
    ).toMatchObject({ offset: 2, duplicate: true });
  });

  it("applies the store's retention inside the transaction", async () => {
    const schema = stores.schema("txretention");
    const store = stores.events(schema, { retention: { maxLength: 2 } });
    for (const data of [1, 2, 3]) {
      await transaction(app, (c) => store.appendInTransaction(c, "s", [{ name: "e", data }]));
    }
    const page = await store.read("s", { after: 0, limit: 10 });
    expect(page.earliest).toBe(2);
    expect(page.records.map((r) => decode(r.payload))).toEqual([2, 3]);
  });

  it("keeps apps on other table prefixes of the same database apart", async () => {
    const schema = stores.schema("txprefix");
    const mine = stores.events(schema, { tablePrefix: "mine_" });
    const theirs = stores.events(schema, { tablePrefix: "theirs_" });
    expect(mine.commitChannel).not.toBe(theirs.commitChannel);
    expect(mine.commitChannel).toMatch(/^assured_commits_[0-9a-f]{16}$/);
    const reports = new CommitReports(mine);
    await mine.watchingCommits();
    await transaction(app, (c) => theirs.appendInTransaction(c, "s", [{ name: "e", data: 1 }]));
    await transaction(app, (c) => mine.appendInTransaction(c, "t", [{ name: "e", data: 1 }]));
    await reports.reached("t", 1);
    expect(reports.all.map((r) => r.stream)).toEqual(["t"]);
  });
});

describe("appendInTransaction: arguments are checked before anything is sent", () => {
  it("refuses a client outside a transaction, or in a failed one, naming the fix", async () => {
    const schema = stores.schema("txcheck");
    const store = stores.events(schema);
    const client = await app.connect();
    try {
      await expectCode(
        () => store.appendInTransaction(client, "s", [{ name: "e", data: 1 }]),
        "INVALID_ARGUMENT",
        'client.query("BEGIN")',
      );
      await client.query("BEGIN");
      await client.query("SELECT 1/0").catch(() => undefined);
      await expectCode(
        () => store.appendInTransaction(client, "s", [{ name: "e", data: 1 }]),
        "INVALID_ARGUMENT",
        "ROLLBACK",
      );
      // The client may not have processed the failed statement's end yet (its state is read
      // without a round trip): the server's "transaction aborted" answer says the same.
      const stale = Object.assign(client, { getTransactionStatus: () => "T" });
      await expectCode(
        () => store.appendInTransaction(stale, "s", [{ name: "e", data: 1 }]),
        "INVALID_ARGUMENT",
        "ROLLBACK",
      );
    } finally {
      await client.query("ROLLBACK").catch(() => undefined);
      client.release(true);
    }
    await expectCode(
      () => store.appendInTransaction({} as pg.PoolClient, "s", [{ name: "e", data: 1 }]),
      "INVALID_ARGUMENT",
      "pg Client",
    );
    expect((await store.head("s")).head).toBe(0);
  });

  it("validates stream, entries, names, ids, data and payload size like publish", async () => {
    const schema = stores.schema("txvalid");
    const store = stores.events(schema, { maxPayloadBytes: 16 });
    await transaction(app, async (client) => {
      const call = (stream: unknown, entries: unknown) => () =>
        store.appendInTransaction(client, stream as string, entries as never);
      await expectCode(call("", [{ name: "e", data: 1 }]), "INVALID_STREAM");
      await expectCode(call("s", "e"), "INVALID_ARGUMENT", "array");
      await expectCode(call("s", []), "INVALID_ARGUMENT", "1 to 10000 entries");
      await expectCode(call("s", [{ name: "e", payload: 1 }]), "INVALID_ARGUMENT", "payload");
      await expectCode(call("s", [{ name: "", data: 1 }]), "INVALID_ARGUMENT", "event name");
      await expectCode(call("s", [{ name: "e", data: 1, id: 5 }]), "INVALID_ARGUMENT", "event id");
      await expectCode(call("s", [{ name: "e", data: 1n }]), "CODEC_ERROR");
      await expectCode(call("s", [{ name: "e", data: "x".repeat(20) }]), "PAYLOAD_TOO_LARGE");
      // Nothing failed on the server side: the transaction is still usable.
      await store.appendInTransaction(client, "s", [{ name: "e", data: "fits" }]);
    });
    expect((await store.head("s")).head).toBe(1);
    expect(() => store.watchCommits("no" as never)).toThrow(/listener function/);
    await store.close();
    await expectCode(() => store.appendInTransaction({} as pg.PoolClient, "s", []), "STORE_CLOSED");
    expect(() => store.watchCommits(() => undefined)).toThrow(/closed/);
  });

  it("wraps a failing statement as STORE_UNAVAILABLE and leaves the transaction to roll back", async () => {
    const schema = stores.schema("txfail");
    const store = stores.events(schema);
    await store.head("warm"); // creates the tables
    const client = await app.connect();
    try {
      await client.query("BEGIN");
      await client.query("SET LOCAL lock_timeout = '50ms'");
      const holder = await app.connect();
      try {
        await holder.query("BEGIN");
        await store.appendInTransaction(holder, "s", [{ name: "e", data: 1 }]);
        await expectCode(
          () => store.appendInTransaction(client, "s", [{ name: "e", data: 2 }]),
          "STORE_UNAVAILABLE",
          "lock timeout",
        );
        await holder.query("COMMIT");
      } finally {
        holder.release();
      }
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
    expect((await store.head("s")).head).toBe(1);
  });
});
