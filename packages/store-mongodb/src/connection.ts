import type { Db, MongoClient, MongoClientOptions } from "mongodb";
import { mongoDriver } from "./driver.js";
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
 * Driver timeouts of a client the store creates, unless `clientOptions` or the connection
 * string set them: a call gives up after 10 s while no server answers (the driver's own 30 s
 * default would hold every call that long), and a connection or heartbeat that gets no answer
 * (a hung server, a partition) fails after 10 s instead of 30 s.
 */
export const OWN_CLIENT_TIMEOUTS = {
  serverSelectionTimeoutMS: 10_000,
  connectTimeoutMS: 10_000,
} as const satisfies MongoClientOptions;

/** `clientOptions` with the `OWN_CLIENT_TIMEOUTS` that neither they nor `url` set. */
export function ownClientOptions(
  url: string,
  clientOptions: MongoClientOptions | undefined,
): MongoClientOptions {
  const query = url.includes("?") ? url.slice(url.indexOf("?") + 1) : "";
  const inUrl = new Set([...new URLSearchParams(query).keys()].map((key) => key.toLowerCase()));
  const defaults = Object.entries(OWN_CLIENT_TIMEOUTS).filter(
    ([key]) =>
      !inUrl.has(key.toLowerCase()) &&
      clientOptions?.[key as keyof MongoClientOptions] === undefined,
  );
  return { ...Object.fromEntries(defaults), ...clientOptions };
}

/**
 * Resolves the `connection` option. A `Db` or `MongoClient` stays the caller's (the store never
 * closes it); a connection string gives a client the store owns and closes on `close()`, with
 * `OWN_CLIENT_TIMEOUTS`. The driver connects lazily, on the first operation.
 */
export function openConnection(options: ResolvedStoreOptions): StoreConnection {
  const { connection, database } = options;
  if (typeof connection === "string") {
    const { MongoClient: Client } = mongoDriver();
    const client = new Client(connection, ownClientOptions(connection, options.clientOptions));
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
