import { type Db, MongoClient } from "mongodb";
import type { ResolvedStoreOptions } from "./options.js";

/** The database a store works in, and the client it must close (only one it created). */
export interface StoreConnection {
  db: Db;
  /** The client behind `db`, whoever owns it. */
  client: MongoClient;
  /** Set only when the store created the client from a connection string: it owns it. */
  ownedClient: MongoClient | undefined;
}

function isDb(value: unknown): value is Db {
  return typeof (value as { collection?: unknown }).collection === "function";
}

/**
 * Resolves the `connection` option. A `Db` or `MongoClient` stays the caller's (the store never
 * closes it); a connection string gives a client the store owns and closes on `close()`. The
 * driver connects lazily, on the first operation.
 */
export function openConnection(options: ResolvedStoreOptions): StoreConnection {
  const { connection, database } = options;
  if (typeof connection === "string") {
    const client = new MongoClient(connection, options.clientOptions);
    return { db: client.db(database), client, ownedClient: client };
  }
  if (isDb(connection))
    return { db: connection, client: connection.client, ownedClient: undefined };
  return { db: connection.db(database), client: connection, ownedClient: undefined };
}

/**
 * Connects the client (a no-op when connected). The driver gives up on a client whose first
 * connection failed ("Topology is closed"); an explicit `connect()` revives it, so a store
 * whose server was down at start works once the server is back.
 */
export async function ensureConnected(connection: StoreConnection): Promise<void> {
  await connection.client.connect();
}
