import { createAdapter } from "@socket.io/postgres-adapter";
import pg from "pg";
import type { ServerOptions } from "socket.io";

/**
 * The table where `@socket.io/postgres-adapter` puts payloads a NOTIFY cannot carry (binary
 * ones, such as Assured's batches, or over 8,000 bytes); the adapter's own default name.
 */
export const ADAPTER_TABLE = "socket_io_attachments";

/** Creates the adapter's attachments table if it is missing (the adapter never creates it). */
export async function createAdapterTable(pool: pg.Pool): Promise<void> {
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${ADAPTER_TABLE} (
       id bigserial UNIQUE,
       created_at timestamptz DEFAULT NOW(),
       payload bytea
     )`,
  );
}

/** A node's Socket.IO PostgreSQL adapter and what it holds. */
export interface PostgresAdapterHandle {
  adapter: ServerOptions["adapter"];
  /** The `application_name` of the adapter's LISTEN connection (one per node process). */
  applicationName: string;
  /** Ends the publishing pool (the adapter itself is closed with the Socket.IO server). */
  close(): Promise<void>;
}

/** Ignores a connection's `error` event: its `end` follows, and the adapter reconnects on it. */
function ignore(): void {}

/**
 * The two things the adapter asks of a "pool": `connect()` for its LISTEN connection and
 * `query()` for its NOTIFYs and attachments. The adapter (0.5) keeps the connection it got from
 * `connect()` without an `error` listener and never releases it when it dies. On a `pg.Pool`,
 * a SIGKILL of the server then raises an unhandled `error` (the end of the node process), and
 * even with that error caught the adapter never listens again (seen on PostgreSQL 15). So each
 * `connect()` here opens a fresh connection with a listener, outside any pool, and its
 * `release()` ends it; the adapter reconnects on its `end`. Queries go through a real pool.
 */
class ListenConnections {
  readonly #url: string;
  readonly #applicationName: string;
  readonly #pool: pg.Pool;

  constructor(url: string, applicationName: string, pool: pg.Pool) {
    this.#url = url;
    this.#applicationName = applicationName;
    this.#pool = pool;
  }

  async connect(): Promise<pg.Client & { release(): void }> {
    const client = new pg.Client({
      connectionString: this.#url,
      application_name: this.#applicationName,
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
    });
    client.on("error", ignore);
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(ignore);
      throw error;
    }
    const release = () => void client.end().catch(ignore);
    return Object.assign(client, { release });
  }

  query(text: string, values?: unknown[]): Promise<pg.QueryResult> {
    return this.#pool.query(text, values);
  }
}

/**
 * Opens the Socket.IO PostgreSQL adapter for node `name` on the database at `url` (whose
 * attachments table `createAdapterTable` made). Nothing connects before the Socket.IO server
 * takes the adapter; while the server is down the adapter retries every 1–3 s by itself.
 *
 * @example
 * const { adapter } = openPostgresAdapter(url, "A");
 * const io = new Server(httpServer, { adapter });
 */
export function openPostgresAdapter(url: string, name: string): PostgresAdapterHandle {
  const applicationName = `assured-adapter:${name}:${process.pid}`;
  const pool = new pg.Pool({
    connectionString: url,
    max: 4,
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
  });
  pool.on("error", ignore);
  const connections = new ListenConnections(url, applicationName, pool);
  // The adapter only calls connect() and query(), which ListenConnections provides (see above).
  const adapter = createAdapter(connections as unknown as pg.Pool, { tableName: ADAPTER_TABLE });
  return { adapter, applicationName, close: () => pool.end() };
}

/**
 * True when the adapter of `applicationName` is listening: the server shows its connection
 * idle after a `LISTEN` (after a restart of the server, once the adapter has reconnected).
 */
export async function adapterListening(pool: pg.Pool, applicationName: string): Promise<boolean> {
  const { rows } = await pool.query(
    `SELECT 1 FROM pg_stat_activity
      WHERE application_name = $1 AND state = 'idle' AND query LIKE 'LISTEN %'`,
    [applicationName],
  );
  return rows.length > 0;
}
