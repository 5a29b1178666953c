import type { Pool, PoolClient, QueryResult } from "pg";

/** Ignores a client's `error` event while the store holds it (the failing query reports it). */
function ignore(): void {}

/**
 * Borrows a client with `ignore` already listening. The pool hands a client over from inside
 * the previous holder's release, which may run in the middle of parsing one chunk of that
 * connection's bytes: an error the server sent right after its last answer (a FATAL when it
 * is terminated or dies) is then emitted before a `pool.connect()` promise's continuation
 * runs, with no listener, and ends the process. The callback form runs at the handover.
 */
function borrow(pool: Pool): Promise<PoolClient> {
  return new Promise((resolve, reject) => {
    pool.connect((error, client) => {
      if (error !== undefined || client === undefined) {
        reject(error ?? new Error("the pool gave no client"));
        return;
      }
      client.on("error", ignore);
      resolve(client);
    });
  });
}

/**
 * Runs `work` in one transaction on a client borrowed from `pool`: `begin` (default `BEGIN`;
 * a simple query, which may go on with more statements in the same round trip, whose results
 * `work` is given in order), then `COMMIT`, or `ROLLBACK` when it throws. A client whose
 * connection failed is destroyed, not returned.
 */
export async function inTransaction<T>(
  pool: Pool,
  work: (client: PoolClient, begun: QueryResult[]) => Promise<T>,
  begin = "BEGIN",
): Promise<T> {
  // A connection that dies between two queries would emit `error` with no listener (a crash).
  const client = await borrow(pool);
  let broken: Error | undefined;
  try {
    const begun: QueryResult | QueryResult[] = await client.query(begin);
    const result = await work(client, Array.isArray(begun) ? begun : [begun]);
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
