import pg from "pg";
import { PostgresHandledLog } from "./handled-log.js";
import { createAdapterTable } from "./postgres-adapter.js";

/**
 * Prepares a PostgreSQL database for `postgres` nodes, once, before they start (as a deployment
 * runs its migrations): the Socket.IO adapter's attachments table and the handled log's table.
 * The stores create their own tables on first use.
 */
export async function preparePostgres(url: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await createAdapterTable(pool);
    await PostgresHandledLog.createTable(pool);
  } finally {
    await pool.end();
  }
}
