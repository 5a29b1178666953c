import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { PostgresEventStore } from "../src/index.js";
import { postgresUrl, useStores } from "./fixture.js";

const stores = useStores();
const payload = new Uint8Array([2]);

describe("PostgresEventStore group commit", () => {
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 4 });
  let checkouts = 0;
  pool.on("acquire", () => {
    checkouts++;
  });
  afterAll(async () => {
    await pool.end();
  });

  it("writes 200 appends to 20 streams issued in one tick in one transaction", async () => {
    const store = new PostgresEventStore({ connection: pool, schema: stores.schema("group") });
    await store.append("warm", [{ name: "e", payload }]);
    checkouts = 0;
    const calls = Array.from({ length: 200 }, (_, i) =>
      store.append(`s${i % 20}`, [{ id: `id${i}`, name: "e", payload }]),
    );
    const results = await Promise.all(calls);
    // One group: one client checked out for one transaction (a per-append writer takes 200).
    expect(checkouts).toBe(1);
    for (let stream = 0; stream < 20; stream++) {
      const offsets = results.filter((_, i) => i % 20 === stream).map(([r]) => r!.offset);
      expect(offsets).toEqual(Array.from({ length: 10 }, (_, k) => k + 1));
    }
    await store.close();
  });

  it("answers an id repeated within the group as a duplicate of its first entry", async () => {
    const store = new PostgresEventStore({ connection: pool, schema: stores.schema("groupdup") });
    const [a, b, reset, c] = await Promise.all([
      store.append("s", [{ id: "x", name: "e", payload }]),
      store.append("s", [{ id: "x", name: "e", payload }]),
      store.reset("s"),
      store.append("s", [{ id: "x", name: "e", payload }]),
    ]);
    expect(a![0]).toMatchObject({ offset: 1, duplicate: false });
    expect(b![0]).toMatchObject({ offset: 1, duplicate: true, epoch: a![0]!.epoch });
    expect(reset!.head).toBe(0);
    // After the reset in the same transaction the id is forgotten: a new event in a new epoch.
    expect(c![0]).toMatchObject({ offset: 1, duplicate: false, epoch: reset!.epoch });
    expect(reset!.epoch).not.toBe(a![0]!.epoch);
    const page = await store.read("s", { after: 0, limit: 10 });
    expect(page).toMatchObject({ epoch: reset!.epoch, head: 1, earliest: 1 });
    await store.close();
  });
});
