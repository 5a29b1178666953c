import { encode } from "@assured/core";
import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { PostgresEventStore } from "../src/index.js";
import { postgresUrl, useStores } from "./fixture.js";

const stores = useStores();

describe("PostgresEventStore appends without ids", () => {
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 4 });
  /** Every statement the pool's clients run, in order. */
  const statements: string[] = [];
  const counted = new WeakSet<pg.PoolClient>();
  pool.on("acquire", (client) => {
    if (counted.has(client)) return;
    counted.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const first = args[0] as string | { text: string };
      statements.push(typeof first === "string" ? first : first.text);
      return query(...args);
    };
  });
  afterAll(async () => {
    await pool.end();
  });
  const opened: PostgresEventStore[] = [];
  beforeEach(() => {
    statements.length = 0;
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  async function warmStore(
    options: Partial<ConstructorParameters<typeof PostgresEventStore>[0]> = {},
  ) {
    const store = new PostgresEventStore({
      connection: pool,
      schema: stores.schema("one"),
      ...options,
    });
    opened.push(store);
    await store.append("warm", [{ name: "e", payload: encode(0) }]);
    statements.length = 0;
    return store;
  }

  it("writes a group to new and existing streams in one statement, offsets gapless and in order", async () => {
    const store = await warmStore();
    await store.append("old", [{ name: "first", payload: encode("a") }]);
    statements.length = 0;
    const calls = [
      store.append("old", [
        { name: "x", payload: encode(1) },
        { name: "y", payload: encode(2) },
      ]),
      store.append("new", [{ name: "z", payload: encode(3) }]),
      store.append("old", [{ name: "w", payload: encode(4) }]),
      store.append("é", [{ name: "v", payload: encode(5) }]),
    ];
    const [oldA, fresh, oldB, accented] = await Promise.all(calls);
    // One statement and no BEGIN/COMMIT (the old writer took five: BEGIN, lock, insert, heads, COMMIT).
    expect(statements).toHaveLength(1);
    expect(oldA!.map((r) => r.offset)).toEqual([2, 3]);
    expect(oldB!.map((r) => r.offset)).toEqual([4]);
    expect(fresh!.map((r) => r.offset)).toEqual([1]);
    expect(accented!.map((r) => r.offset)).toEqual([1]);
    const page = await store.read("old", { after: 0, limit: 10 });
    expect(page).toMatchObject({ head: 4, earliest: 1, epoch: oldA![0]!.epoch });
    expect(page.records.map((r) => [r.offset, r.name, r.id])).toEqual([
      [1, "first", page.records[0]!.id],
      [2, "x", oldA![0]!.id],
      [3, "y", oldA![1]!.id],
      [4, "w", oldB![0]!.id],
    ]);
    expect(page.records.slice(1).map((r) => Array.from(r.payload))).toEqual(
      [1, 2, 4].map((n) => Array.from(encode(n))),
    );
    const created = await store.read("new", { after: 0, limit: 10 });
    expect(created).toMatchObject({ head: 1, epoch: fresh![0]!.epoch });
    expect(created.records[0]).toMatchObject({ offset: 1, name: "z", id: fresh![0]!.id });
    expect((await store.head("é")).head).toBe(1);
  });

  it("writes a group to one stream in one statement: a new stream, then the next offsets", async () => {
    const store = await warmStore();
    const first = await Promise.all([
      store.append("solo", [{ name: "a", payload: encode(1) }]),
      store.append("solo", [
        { name: "b", payload: encode(2) },
        { name: "c", payload: encode(3) },
      ]),
    ]);
    const [next] = await Promise.all([store.append("solo", [{ name: "d", payload: encode(4) }])]);
    expect(statements).toHaveLength(2);
    expect(first.flat().map((r) => r.offset)).toEqual([1, 2, 3]);
    expect(next!.map((r) => [r.offset, r.epoch])).toEqual([[4, first[0]![0]!.epoch]]);
    const page = await store.read("solo", { after: 0, limit: 10 });
    expect(page).toMatchObject({ head: 4, earliest: 1, epoch: first[0]![0]!.epoch });
    expect(page.records.map((r) => [r.name, r.id, Array.from(r.payload)])).toEqual(
      [...first.flat(), ...next!].map((r, i) => ["abcd"[i], r.id, Array.from(encode(i + 1))]),
    );
  });

  it("keeps the transaction for groups that carry ids or need trimming", async () => {
    const withIds = await warmStore();
    await withIds.append("s", [{ id: "a", name: "e", payload: encode(1) }]);
    expect(statements[0]).toBe("BEGIN");
    const trimmed = await warmStore({ retention: { maxLength: 1 } });
    await trimmed.append("s", [{ name: "e", payload: encode(1) }]);
    expect(statements[0]).toBe("BEGIN");
  });
});
