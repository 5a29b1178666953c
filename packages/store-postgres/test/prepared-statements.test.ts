import { encode } from "@assured/core";
import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { PostgresDedupStore, PostgresEventStore } from "../src/index.js";
import { postgresUrl, useStores } from "./fixture.js";

const stores = useStores();

/** The stores' prepared statements on the pool's one connection: name → text. */
async function preparedOn(pool: pg.Pool): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ name: string; statement: string }>(
    "SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'assured\\_%'",
  );
  return new Map(rows.map((row) => [row.name, row.statement]));
}

describe("PostgresEventStore and PostgresDedupStore prepared statements", () => {
  // One connection: every statement of the stores and of the checks runs on it.
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 1 });
  pool.on("error", () => undefined);
  /** Every statement the pool's client runs, in order: simple queries and named ones. */
  const sent: { text: string; name: string | undefined }[] = [];
  const counted = new WeakSet<pg.PoolClient>();
  pool.on("acquire", (client) => {
    if (counted.has(client)) return;
    counted.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const first = args[0] as string | { text: string; name?: string };
      sent.push(
        typeof first === "string"
          ? { text: first, name: undefined }
          : { text: first.text, name: first.name },
      );
      return query(...args);
    };
  });
  const opened: { close(): Promise<void> }[] = [];
  beforeEach(async () => {
    // A connection of its own per case: no statement of an earlier case is prepared on it.
    const client = await pool.connect();
    client.release(true);
    sent.length = 0;
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });
  afterAll(async () => {
    await pool.end();
  });

  function open(schema: string, options: { tablePrefix?: string; preparedStatements?: boolean }) {
    const clock = () => 1_000_000;
    const events = new PostgresEventStore({ connection: pool, schema, clock, ...options });
    const dedup = new PostgresDedupStore({ connection: pool, schema, clock, ...options });
    opened.push(events, dedup);
    return { events, dedup };
  }

  /** Every hot path once: appends of several sizes, reads, head, claims, complete, renew, release. */
  async function exercise({ events, dedup }: ReturnType<typeof open>, round: number) {
    for (const size of [1, 7, 100]) {
      const entries = Array.from({ length: size }, (_, i) => ({ name: "e", payload: encode(i) }));
      await events.append(`s-${size}`, entries);
      await Promise.all([events.append("a", entries), events.append("b", entries)]);
    }
    await events.append("ids", [{ id: `x-${round}`, name: "e", payload: encode(0) }]);
    expect((await events.read("s-7", { after: 0, limit: 100 })).records).toHaveLength(7 * round);
    expect((await events.head("s-100")).head).toBe(100 * round);
    const owner = { id: "alice", maxEntries: 10 };
    const claimed = await dedup.claim(`k-${round}`, { leaseMs: 1_000, fingerprint: "f", owner });
    const free = await dedup.claim(`free-${round}`, { leaseMs: 1_000, fingerprint: "f" });
    const other = await dedup.claim(`r-${round}`, { leaseMs: 1_000, fingerprint: "f", owner });
    if (claimed.status !== "claimed" || free.status !== "claimed" || other.status !== "claimed") {
      throw new Error("expected three claims");
    }
    expect(await dedup.renew(`k-${round}`, claimed.token, 2_000)).toBe(true);
    expect(
      await dedup.complete(
        `k-${round}`,
        claimed.token,
        { ok: true, payload: encode(1) },
        { ttlMs: 5_000 },
      ),
    ).toBe(true);
    expect(await dedup.release(`r-${round}`, other.token)).toBe(true);
    const again = await dedup.claim(`k-${round}`, { leaseMs: 1_000, fingerprint: "f", owner });
    expect(again.status).toBe("done");
  }

  it("sends the hot statements named, one prepared statement per text whatever the batch size", async () => {
    const stores_ = open(stores.schema("prep"), {});
    await exercise(stores_, 1);
    const prepared = await preparedOn(pool);
    // Appends (one-statement and with ids), read, head, claim, renew, complete, release.
    expect(prepared.size).toBeGreaterThanOrEqual(9);
    for (const { text, name } of sent.filter((s) => s.name !== undefined)) {
      expect(prepared.get(name!), name).toBe(text);
    }
    const texts = [...prepared.values()].join("\n");
    expect(texts).toMatch(/unnest/);
    expect(texts).toMatch(/ON CONFLICT \(dedup_key\)/);
    expect(texts).toMatch(/SET state = 'done'/);
    // A second round with the same shapes prepares nothing new: the number stays bounded.
    await exercise(stores_, 2);
    expect((await preparedOn(pool)).size).toBe(prepared.size);
  });

  it("prepares nothing with preparedStatements: false", async () => {
    await exercise(open(stores.schema("unprep"), { preparedStatements: false }), 1);
    expect(sent.length).toBeGreaterThan(10);
    expect(sent.filter((s) => s.name !== undefined)).toEqual([]);
    expect((await preparedOn(pool)).size).toBe(0);
  });

  it("gives stores on two table prefixes on one connection names of their own", async () => {
    const schema = stores.schema("pair");
    const first = open(schema, { tablePrefix: "one_" });
    const second = open(schema, { tablePrefix: "two_" });
    await exercise(first, 1);
    await exercise(second, 1);
    await exercise(first, 2);
    await exercise(second, 2);
    // Each store saw only its own writes.
    expect((await first.events.head("s-1")).head).toBe(2);
    expect((await second.events.head("s-1")).head).toBe(2);
    const prepared = await preparedOn(pool);
    const ofOne = [...prepared].filter(([, text]) => text.includes('."one_'));
    const ofTwo = [...prepared].filter(([, text]) => text.includes('."two_'));
    expect(ofOne.length).toBeGreaterThanOrEqual(9);
    expect(ofTwo.length).toBe(ofOne.length);
    expect(ofOne.length + ofTwo.length).toBe(prepared.size);
  });

  it("claims in one statement without an owner, three round trips with one; completes in one", async () => {
    const { dedup } = open(stores.schema("trips"), {});
    const owner = { id: "bob", maxEntries: 5 };
    // The bound on all rows is counted at most once a second, whatever the claim: not counted.
    const trips = () => sent.filter((s) => !s.text.includes(" capped"));
    await dedup.claim("warm", { leaseMs: 1_000, fingerprint: "f", owner });
    sent.length = 0;
    const free = await dedup.claim("free", { leaseMs: 1_000, fingerprint: "f" });
    expect(free.status).toBe("claimed");
    expect(trips()).toHaveLength(1);
    sent.length = 0;
    const owned = await dedup.claim("owned", { leaseMs: 1_000, fingerprint: "f", owner });
    if (owned.status !== "claimed") throw new Error("expected a claim");
    // BEGIN, the owner's lock and the read; the write; COMMIT.
    expect(trips().map((s) => s.text.split(" ")[0])).toEqual(["BEGIN;", "INSERT", "COMMIT"]);
    sent.length = 0;
    await dedup.complete("owned", owned.token, { ok: true, payload: encode(1) }, { ttlMs: 1_000 });
    expect(trips()).toHaveLength(1);
  });
});
