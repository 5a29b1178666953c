import type { CommittedRange } from "@assured/core/store";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { PostgresEventStore } from "../src/index.js";
import { CommitReports, eventually, transaction } from "./commit-reports.js";
import { postgresUrl, useStores } from "./fixture.js";

const stores = useStores();
const app = new pg.Pool({ connectionString: postgresUrl, max: 6 });
app.on("error", () => undefined);
afterAll(() => app.end());

/** Backends listening for `store` (its LISTEN connection's application_name is the channel). */
async function listenPids(store: PostgresEventStore): Promise<number[]> {
  const { rows } = await (await stores.admin()).query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
    [store.commitChannel],
  );
  return rows.map((row) => row.pid);
}

/** Each stream's reports are consecutive from 1 to `head`: every offset once, in order. */
function expectInOrderOnce(reports: readonly CommittedRange[], heads: Map<string, number>) {
  for (const [stream, head] of heads) {
    let next = 1;
    for (const report of reports.filter((r) => r.stream === stream)) {
      expect(report.first, `${stream}: ${JSON.stringify(reports)}`).toBe(next);
      next = report.last + 1;
    }
    expect(next - 1).toBe(head);
  }
}

describe("watchCommits: reports from every publisher to every store instance", () => {
  it("gapless, each range once per listener, in commit order, with concurrent transactions on several connections", async () => {
    const schema = stores.schema("watchconc");
    const nodes = [stores.events(schema), stores.events(schema)];
    const listeners = [
      new CommitReports(nodes[0]!),
      new CommitReports(nodes[0]!),
      new CommitReports(nodes[1]!),
    ];
    await Promise.all(nodes.map((node) => node.watchingCommits()));
    const publisher = stores.events(schema);
    const streams = ["a", "b"];
    const committed = new Map<string, number>(streams.map((s) => [s, 0]));
    const rangesByCommit: CommittedRange[] = [];
    // Five connections, twelve transactions each; every fourth rolls back.
    await Promise.all(
      Array.from({ length: 5 }, async (_, worker) => {
        for (let round = 0; round < 12; round++) {
          const stream = streams[(worker + round) % 2]!;
          const count = 1 + (round % 3);
          const rollBack = (worker + round) % 4 === 0;
          const client = await app.connect();
          try {
            await client.query("BEGIN");
            const results = await publisher.appendInTransaction(
              client,
              stream,
              Array.from({ length: count }, (_, k) => ({ name: "e", data: [worker, round, k] })),
            );
            if (round % 2 === 0) await new Promise((resolve) => setImmediate(resolve));
            await client.query(rollBack ? "ROLLBACK" : "COMMIT");
            if (!rollBack) {
              committed.set(stream, committed.get(stream)! + count);
              rangesByCommit.push({
                stream,
                epoch: results[0]!.epoch,
                first: results[0]!.offset,
                last: results.at(-1)!.offset,
              });
            }
          } finally {
            client.release();
          }
        }
      }),
    );
    for (const reports of listeners) {
      await reports.until(() =>
        streams.every((s) => reports.of(s).at(-1)?.last === committed.get(s)),
      );
      expectInOrderOnce(reports.all, committed);
      // Exactly the committed transactions' ranges, nothing more.
      expect(reports.all).toHaveLength(rangesByCommit.length);
    }
    for (const stream of streams) {
      const page = await nodes[1]!.read(stream, { after: 0, limit: 1_000 });
      expect(page.records.map((r) => r.offset)).toEqual(
        Array.from({ length: committed.get(stream)! }, (_, i) => i + 1),
      );
    }
  });

  it("uses one LISTEN connection outside the pool, closed with the last listener and on close()", async () => {
    const schema = stores.schema("watchconn");
    const store = stores.events(schema, { poolOptions: { max: 1 } });
    expect(await listenPids(store)).toEqual([]);
    const first = new CommitReports(store);
    const second = new CommitReports(store);
    await store.watchingCommits();
    expect(await listenPids(store)).toHaveLength(1);
    // The pool's only connection is still free for the store's own work.
    await transaction(app, (c) => store.appendInTransaction(c, "s", [{ name: "e", data: 1 }]));
    expect((await store.read("s", { after: 0, limit: 1 })).records).toHaveLength(1);
    await first.reached("s", 1);
    first.stop();
    first.stop();
    expect(await listenPids(store)).toHaveLength(1);
    second.stop();
    await eventually(
      async () => (await listenPids(store)).length === 0,
      "the LISTEN connection to end",
    );
    // Watching again opens a new one; close() ends it.
    const third = new CommitReports(store);
    await store.watchingCommits();
    expect(await listenPids(store)).toHaveLength(1);
    await store.close();
    await eventually(async () => (await listenPids(store)).length === 0, "close() to end it");
    third.stop();
  });
});

describe("watchCommits: listeners", () => {
  it("keeps reporting to the others when one listener throws, with no unhandled error", async () => {
    const schema = stores.schema("watchthrow");
    const store = stores.events(schema);
    let thrown = 0;
    const stop = store.watchCommits(() => {
      thrown++;
      throw new Error("listener bug");
    });
    const reports = new CommitReports(store);
    await store.watchingCommits();
    for (const data of [1, 2]) {
      await transaction(app, (c) => store.appendInTransaction(c, "s", [{ name: "e", data }]));
    }
    await reports.reached("s", 2);
    expect(thrown).toBe(2);
    expect(reports.all.map((r) => r.last)).toEqual([1, 2]);
    stop();
  });
});

describe("watchCommits: a lost LISTEN connection is replaced", () => {
  it("reconnects after pg_terminate_backend and reports later commits", async () => {
    const schema = stores.schema("watchkill");
    const store = stores.events(schema);
    const reports = new CommitReports(store);
    await store.watchingCommits();
    await transaction(app, (c) => store.appendInTransaction(c, "s", [{ name: "e", data: 1 }]));
    await reports.reached("s", 1);
    const [killed] = await listenPids(store);
    await (await stores.admin()).query("SELECT pg_terminate_backend($1)", [killed]);
    await eventually(async () => {
      const pids = await listenPids(store);
      return pids.length === 1 && pids[0] !== killed;
    }, "a new LISTEN connection");
    await store.watchingCommits();
    await transaction(app, (c) => store.appendInTransaction(c, "s", [{ name: "e", data: 2 }]));
    await reports.reached("s", 2);
    expectInOrderOnce(reports.all, new Map([["s", 2]]));
  });

  it("after an outage, reports what the streams it reported before gained, in order", async () => {
    const schema = stores.schema("watchgap");
    const role = `watch_${schema.slice(-12)}`;
    const admin = await stores.admin();
    await admin.query(`CREATE ROLE ${role} LOGIN SUPERUSER`);
    const roleUrl = new URL(postgresUrl);
    roleUrl.username = role;
    roleUrl.password = "";
    const store = stores.events(schema, {}, roleUrl.toString());
    const writer = stores.events(schema);
    try {
      const reports = new CommitReports(store);
      await store.watchingCommits();
      await transaction(app, (c) => writer.appendInTransaction(c, "s", [{ name: "e", data: 1 }]));
      await reports.reached("s", 1);
      // The LISTEN connection is lost and cannot come back while the role may not log in.
      await admin.query(`ALTER ROLE ${role} NOLOGIN`);
      const [killed] = await listenPids(store);
      await admin.query("SELECT pg_terminate_backend($1)", [killed]);
      await eventually(async () => (await listenPids(store)).length === 0, "the connection to go");
      await transaction(app, (c) =>
        writer.appendInTransaction(c, "s", [
          { name: "e", data: 2 },
          { name: "e", data: 3 },
        ]),
      );
      await transaction(app, (c) => writer.appendInTransaction(c, "new", [{ name: "e", data: 1 }]));
      await admin.query(`ALTER ROLE ${role} LOGIN`);
      await store.watchingCommits();
      await transaction(app, (c) => writer.appendInTransaction(c, "s", [{ name: "e", data: 4 }]));
      await reports.reached("s", 4);
      // The outage's commits of "s" come as one range from the heads, before later reports;
      // "new" was never reported before, so its outage commit is not reported.
      expect(reports.all.map((r) => [r.stream, r.first, r.last])).toEqual([
        ["s", 1, 1],
        ["s", 2, 3],
        ["s", 4, 4],
      ]);
    } finally {
      await store.close();
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
    }
  });
});
