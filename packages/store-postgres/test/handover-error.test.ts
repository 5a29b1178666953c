import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { postgresBinDir } from "@assured/test-services";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { PostgresEventStore } from "../src/index.js";
import { postgresUrl, useStores } from "./fixture.js";

const stores = useStores();
const payload = new Uint8Array([1]);

/**
 * Runs `sql` with psql, blocking this process's event loop until it is done: whatever the
 * server sends meanwhile waits in the socket and is read in one chunk afterwards.
 */
function psqlBlocking(sql: string): void {
  execFileSync(join(postgresBinDir(), "psql"), [postgresUrl, "-X", "-q", "-c", sql], {
    stdio: "ignore",
  });
}

describe("PostgresEventStore on a pool connection that dies as it is handed over", () => {
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 1 });
  pool.on("error", () => undefined);
  afterAll(async () => {
    await pool.end();
  });

  it("an error the server sent right after its last answer reaches the store, not the process", async () => {
    const store = new PostgresEventStore({ connection: pool, schema: stores.schema("handover") });
    await store.append("s", [{ name: "e", payload }]);
    const { rows } = await pool.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    const pid = rows[0]!.pid;

    // The pool's one connection runs a query of the application's, and the store's append
    // waits for that connection.
    const query = pool.query("SELECT pg_sleep(0.05)");
    const append = store.append("s", [{ name: "e", payload }]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(pool.waitingCount).toBe(1);
    // While this process is blocked, the query's answer arrives, then the backend is
    // terminated and sends its FATAL error: both are read in one chunk. The query's end hands
    // the connection to the append in the middle of that chunk, before the FATAL is parsed.
    psqlBlocking(`SELECT pg_sleep(0.3); SELECT pg_terminate_backend(${pid})`);
    await query;
    // The append fails as a store error (or succeeds on a new connection); the process lives.
    await append.catch((error: unknown) => {
      expect(error).toMatchObject({ code: "STORE_UNAVAILABLE" });
    });
    const [next] = await store.append("s", [{ name: "e", payload }]);
    expect(next!.offset).toBeGreaterThanOrEqual(2);
    await store.close();
  });
});
