import type { Pool, PoolClient } from "pg";

/** Ignores a client's `error` event while the store holds it (the failing query reports it). */
function ignore(): void {}

/**
 * Runs `work` in one transaction on a client borrowed from `pool`: `BEGIN`, then `COMMIT`, or
 * `ROLLBACK` when it throws. A client whose connection failed is destroyed, not returned.
 */
export async function inTransaction<T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  // A connection that dies between two queries would emit `error` with no listener (a crash).
  client.on("error", ignore);
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    broken = error instanceof Error ? error : new Error(String(error));
    try {
      await client.query("ROLLBACK");
      broken = undefined;
    } catch {
      // The connection is gone: destroy the client below.
    }
    throw error;
  } finally {
    client.off("error", ignore);
    client.release(broken);
  }
}
