import { hasProcfs, processEnded, RestartablePostgres, useOwnServer } from "@assured/test-services";
import pg from "pg";
import { describe, expect, it } from "vitest";

const own = useOwnServer(() => RestartablePostgres.start());

/**
 * The kit's `crash` and `breakBackend` kill the test server: PostgreSQL's backends each call
 * `setsid()`, so a SIGKILL of the postmaster's process group left them running until they
 * noticed the postmaster's death, and one not scheduled meanwhile (a loaded machine) still
 * answered a query sent after the "crash" (a kit case saw a claim succeed with the server down).
 */
describe("the test server's kill", () => {
  // The backends are found through Linux's /proc; elsewhere the kill cannot see them.
  it.skipIf(!hasProcfs())(
    "leaves no backend running, even one that has not run since",
    async () => {
      const server = await own();
      const client = new pg.Client({ connectionString: server.url });
      client.on("error", () => {});
      await client.connect();
      const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      const backend = rows[0]!.pid;
      // As a backend the scheduler has not run since its postmaster died: frozen.
      process.kill(backend, "SIGSTOP");
      await server.kill();
      expect(processEnded(backend), "the backend still runs after kill()").toBe(true);
      await expect(client.query("SELECT 1")).rejects.toThrow();
      await client.end().catch(() => {});
      await server.restart();
      const again = new pg.Client({ connectionString: server.url });
      await again.connect();
      expect((await again.query("SELECT 1 AS one")).rows[0]).toEqual({ one: 1 });
      await again.end();
    },
  );
});
