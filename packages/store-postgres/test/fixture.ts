import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, afterEach, inject } from "vitest";
import {
  PostgresDedupStore,
  type PostgresDedupStoreOptions,
  PostgresEventStore,
  type PostgresEventStoreOptions,
} from "../src/index.js";

/** The shared server of this test run (see global-setup.ts). */
export const postgresUrl: string = inject("postgresUrl");

/** A schema name no other case uses: `<label>_<random>`. */
export function isolatedSchema(label: string): string {
  return `${label}_${randomBytes(6).toString("hex")}`;
}

/**
 * An admin pool on `url` for the test file (created on first use, ended after the file), to
 * drop schemas and inspect tables.
 */
export function useAdminPool(url: () => Promise<string> | string): () => Promise<pg.Pool> {
  let pool: pg.Pool | undefined;
  afterAll(async () => {
    await pool?.end();
  });
  return async () => {
    if (pool === undefined) {
      pool = new pg.Pool({ connectionString: await url(), max: 2 });
      pool.on("error", () => undefined);
    }
    return pool;
  };
}

type Omitted = "connection" | "schema";

/**
 * Stores on the shared server in schemas of the test's own: every store opened is closed and
 * every schema dropped after each test. `admin()` is a pool for inspecting tables.
 */
export function useStores() {
  const admin = useAdminPool(() => postgresUrl);
  const opened: { close(): Promise<void> }[] = [];
  const schemas: string[] = [];
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    const pool = await admin();
    for (const schema of schemas.splice(0)) {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });
  return {
    admin,
    /** A new schema, dropped after the test. */
    schema(label = "t"): string {
      const schema = isolatedSchema(label);
      schemas.push(schema);
      return schema;
    },
    /** An event store on `schema` with a pool of its own on `url` (closed after the test). */
    events(
      schema: string,
      options: Omit<PostgresEventStoreOptions, Omitted> = {},
      url = postgresUrl,
    ) {
      const store = new PostgresEventStore({ connection: url, schema, ...options });
      opened.push(store);
      return store;
    },
    /** A dedup store on `schema` with a pool of its own (closed after the test). */
    dedup(schema: string, options: Omit<PostgresDedupStoreOptions, Omitted> = {}) {
      const store = new PostgresDedupStore({ connection: postgresUrl, schema, ...options });
      opened.push(store);
      return store;
    },
  };
}
