import { PostgresEventStore } from "@assured/store-postgres";
import { freePort, type RunningPostgres, startPostgres } from "@assured/test-services";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientFleet } from "../../src/multi-node/client-fleet.js";
import { FailoverProxy } from "../../src/multi-node/failover-proxy.js";
import { NodeProcess } from "../../src/multi-node/node-process.js";
import { preparePostgres } from "../../src/multi-node/postgres-fixture.js";
import { waitFor } from "../../src/multi-node/wait-for.js";

const CLIENTS_PER_NODE = 2;
const STREAM = "orders:transactional";

let postgres: RunningPostgres | undefined;
let app: pg.Pool | undefined;
let store: PostgresEventStore | undefined;
const nodes: NodeProcess[] = [];
const proxies: FailoverProxy[] = [];
const fleets: ClientFleet[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
  await preparePostgres(postgres.url);
  app = new pg.Pool({ connectionString: postgres.url, max: 16 });
  app.on("error", () => {});
  await app.query("CREATE TABLE orders (id int PRIMARY KEY, total int NOT NULL)");
  // The application's own store object, on the nodes' tables: it only appends in transactions.
  store = new PostgresEventStore({ connection: app });
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(fleets.map((f) => f.close()));
  await Promise.allSettled(proxies.map((p) => p.close()));
  await Promise.allSettled(nodes.map((n) => n.stop()));
  await store?.close();
  await app?.end();
  await postgres?.stop();
});

/** Backends listening on the store's channel: one per node that watches commits. */
async function listeners(): Promise<number> {
  const { rows } = await app!.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1", [
    store!.commitChannel,
  ]);
  return rows.length;
}

/** The pid of node `name`'s process (its adapter's application_name carries it). */
async function nodePid(name: string): Promise<number> {
  const { rows } = await app!.query<{ application_name: string }>(
    "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE $1 LIMIT 1",
    [`assured-adapter:${name}:%`],
  );
  return Number(rows[0]!.application_name.split(":")[2]);
}

/** Saves order `id` and appends its events in one transaction; ROLLBACK instead with `rollBack`. */
async function placeOrder(id: number, events: number, rollBack = false): Promise<number[]> {
  const client = await app!.connect();
  try {
    await client.query("BEGIN");
    await client.query("INSERT INTO orders (id, total) VALUES ($1, $2)", [id, id * 10]);
    const results = await store!.appendInTransaction(
      client,
      STREAM,
      Array.from({ length: events }, (_, k) => ({ name: "e", data: { order: id, k } })),
    );
    await client.query(rollBack ? "ROLLBACK" : "COMMIT");
    return results.map((r) => r.offset);
  } finally {
    client.release();
  }
}

describe("transactional publish on PostgreSQL, two server nodes", () => {
  it("G4: events committed in the application's transaction reach the clients of both nodes once, in order; a rollback emits nothing; a node SIGKILLed between commit and emit loses nothing; twelve concurrent publishers, three rolling back, deliver what committed", {
    timeout: 60_000,
  }, async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const common = { store: "postgres", postgresUrl: postgres!.url } as const;
    nodes.push(
      ...(await Promise.all([
        NodeProcess.start({ ...common, name: "A", port: portA }),
        NodeProcess.start({ ...common, name: "B", port: portB }),
      ])),
    );
    const [nodeA, nodeB] = nodes as [NodeProcess, NodeProcess];
    await waitFor(
      async () => (await nodeA.healthy()) && (await nodeB.healthy()) && (await listeners()) === 2,
      20_000,
      "both nodes healthy and listening for commits",
    );
    const lbA = await FailoverProxy.start([portA, portB]);
    const lbB = await FailoverProxy.start([portB, portA]);
    proxies.push(lbA, lbB);
    const onA = new ClientFleet(CLIENTS_PER_NODE, lbA.url, STREAM, "a");
    const onB = new ClientFleet(CLIENTS_PER_NODE, lbB.url, STREAM, "b");
    fleets.push(onA, onB);
    await Promise.all([onA.connect(), onB.connect()]);
    const clients = [...onA.clients, ...onB.clients];

    // 1. Commits from three connections at once, and one after another.
    const expected: { offset: number; data: unknown }[] = [];
    let head = 0;
    const caughtUp = (what: string) =>
      Promise.all([onA.caughtUp(() => head, what), onB.caughtUp(() => head, what)]);
    const batches = await Promise.all([placeOrder(1, 2), placeOrder(2, 1), placeOrder(3, 3)]);
    batches.push(await placeOrder(4, 1));
    const order = new Map<number, { order: number; k: number }>();
    for (const [i, offsets] of batches.entries()) {
      for (const [k, offset] of offsets.entries()) order.set(offset, { order: i + 1, k });
    }
    head = 7;
    await caughtUp("four committed orders on both nodes");
    for (let offset = 1; offset <= head; offset++) {
      expected.push({ offset, data: order.get(offset) });
    }

    // 2. A rollback: no order, no event, no offset used.
    await placeOrder(5, 2, true);
    expect(await placeOrder(6, 1)).toEqual([8]);
    expected.push({ offset: 8, data: { order: 6, k: 0 } });
    head = 8;
    await caughtUp("the order after the rollback");
    expect((await app!.query("SELECT id FROM orders ORDER BY id")).rows.map((r) => r.id)).toEqual([
      1, 2, 3, 4, 6,
    ]);

    // 3. Node A is frozen (SIGSTOP) before the commit and SIGKILLed after it: it never emits.
    //    B's clients get the event live; A's fail over to B and get it there.
    const pid = await nodePid("A");
    process.kill(pid, "SIGSTOP");
    expect(await placeOrder(7, 2)).toEqual([9, 10]);
    expected.push(
      { offset: 9, data: { order: 7, k: 0 } },
      { offset: 10, data: { order: 7, k: 1 } },
    );
    await onB.caughtUp(() => 10, "B's clients, live, while A is frozen");
    expect(onA.clients.every((c) => (c.offsets().at(-1) ?? 0) === 8)).toBe(true);
    await nodeA.kill();
    await onA.subscribed(2, "A's clients resubscribed on B");
    head = 10;
    await caughtUp("the event A never emitted");
    expect(await placeOrder(8, 1)).toEqual([11]);
    expected.push({ offset: 11, data: { order: 8, k: 0 } });
    head = 11;
    await caughtUp("a commit after the failover");

    // 4. Twelve transactional publishers at once, each on its own connection, every fourth
    //    rolling back: the committed events only, each once, in offset order, on every client.
    const many = await Promise.all(
      Array.from({ length: 12 }, (_, i) => placeOrder(101 + i, 1 + (i % 3), i % 4 === 3)),
    );
    const committed: { offset: number; data: unknown }[] = [];
    for (const [i, offsets] of many.entries()) {
      if (i % 4 === 3) continue; // rolled back: its offsets went to others
      for (const [k, offset] of offsets.entries()) {
        committed.push({ offset, data: { order: 101 + i, k } });
      }
    }
    committed.sort((a, b) => a.offset - b.offset);
    expect(committed.map((e) => e.offset)).toEqual(
      Array.from({ length: committed.length }, (_, n) => head + 1 + n),
    );
    expected.push(...committed);
    head += committed.length;
    await caughtUp("twelve concurrent transactional publishers, three rolled back");

    for (const c of clients) {
      expect(c.offsets(), c.name).toEqual(expected.map((e) => e.offset));
      expect(
        c.deliveries.map((d) => d.data),
        c.name,
      ).toEqual(expected.map((e) => e.data));
      expect(new Set(c.deliveries.map((d) => d.epoch)).size).toBe(1);
      expect(c.errors).toEqual([]);
    }
    for (const c of onA.clients) expect(c.outcomes.map((o) => o.recovered)).toEqual([true, true]);
    for (const c of onB.clients) expect(c.outcomes.map((o) => o.recovered)).toEqual([true]);
  });
});
