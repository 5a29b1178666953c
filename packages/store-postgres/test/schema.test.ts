import { isAssuredError } from "@assured/core";
import { describe, expect, it } from "vitest";
import { SCHEMA_VERSION } from "../src/index.js";
import { useStores } from "./fixture.js";

const stores = useStores();
const payload = new Uint8Array([7]);

async function tablesOf(schema: string): Promise<string[]> {
  const { rows } = await (await stores.admin()).query<{ tablename: string }>(
    "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
    [schema],
  );
  return rows.map((row) => row.tablename);
}

describe("PostgresEventStore / PostgresDedupStore schema", () => {
  it("creates the schema and its tables on first use, with the schema version row", async () => {
    const schema = stores.schema("fresh");
    const store = stores.events(schema);
    expect(await tablesOf(schema)).toEqual([]);
    expect((await store.head("s")).epoch).toBe("");
    expect(await tablesOf(schema)).toEqual([
      "assured_dedup",
      "assured_dedup_owners",
      "assured_events",
      "assured_meta",
      "assured_streams",
    ]);
    const { rows } = await (await stores.admin()).query(
      `SELECT value FROM "${schema}".assured_meta WHERE key = 'schema_version'`,
    );
    expect(Number(rows[0].value)).toBe(SCHEMA_VERSION);
  });

  it("migrates once when many instances start on a fresh schema at the same moment", async () => {
    const schema = stores.schema("race");
    const instances = Array.from({ length: 6 }, () => stores.events(schema));
    const results = await Promise.all(
      instances.map((store, i) => store.append(`s${i}`, [{ name: "e", payload }])),
    );
    expect(results.map(([result]) => result!.offset)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it("refuses tables of a newer schema version with STORE_CORRUPT saying to upgrade", async () => {
    const schema = stores.schema("newer");
    await stores.events(schema).append("s", [{ id: "a", name: "e", payload }]);
    await (await stores.admin()).query(
      `UPDATE "${schema}".assured_meta SET value = $1 WHERE key = 'schema_version'`,
      [SCHEMA_VERSION + 1],
    );
    for (const call of [
      () => stores.events(schema).append("s", [{ name: "e", payload }]),
      () => stores.events(schema).read("s", { after: 0, limit: 10 }),
      () => stores.dedup(schema).claim("k", { leaseMs: 1_000, fingerprint: "f" }),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(isAssuredError(error, "STORE_CORRUPT"), String(error)).toBe(true);
      expect((error as Error).message).toContain(`schema version ${SCHEMA_VERSION + 1}`);
      expect((error as Error).message).toContain("upgrade the package");
    }
  });

  it("keeps stores with different table prefixes in one schema apart", async () => {
    const schema = stores.schema("prefix");
    const a = stores.events(schema, { tablePrefix: "app_a_" });
    const b = stores.events(schema, { tablePrefix: "app_b_" });
    await a.append("s", [{ id: "x", name: "e", payload }]);
    expect((await b.head("s")).head).toBe(0);
    expect((await b.append("s", [{ id: "x", name: "e", payload }]))[0]!.duplicate).toBe(false);
    expect(await tablesOf(schema)).toContain("app_a_events");
    expect(await tablesOf(schema)).toContain("app_b_events");
  });
});
