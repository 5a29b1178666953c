/** How a node server child process is configured (passed as JSON in `ASSURED_NODE_CONFIG`). */
export type NodeConfig =
  | RedisNodeConfig
  | RedisClusterNodeConfig
  | MongoNodeConfig
  | SqliteNodeConfig
  | PostgresNodeConfig
  | CustomNodeConfig;

interface CommonNodeConfig {
  /** The node's name, recorded with every message its handler runs. */
  name: string;
  /** Port on 127.0.0.1. */
  port: number;
  /** The server's `leaseMs` (how long a crashed handler's claim blocks a duplicate). */
  leaseMs?: number;
  /** Socket.IO's heartbeat (defaults 25,000 / 20,000 ms): short ones find dead peers sooner. */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /**
   * A SQLite file for the handled log, shared by every node (and read by the test): when set,
   * it replaces the store's own handled log, so the log outlives a store that restarts.
   */
  handledPath?: string;
}

/** A node on Redis: `RedisEventStore`, `RedisDedupStore` and the Socket.IO Redis adapter. */
export interface RedisNodeConfig extends CommonNodeConfig {
  store: "redis";
  redisUrl: string;
  /** Prefix of every key: the stores', the handled log's and the adapter's channels. */
  keyPrefix: string;
}

/**
 * A node on a Redis Cluster: `RedisEventStore`, `RedisDedupStore` and the Socket.IO Redis
 * adapter, each on ioredis `Cluster` clients.
 */
export interface RedisClusterNodeConfig extends CommonNodeConfig {
  store: "redis-cluster";
  /** The cluster's masters (the client discovers the slot map from any of them). */
  clusterNodes: { host: string; port: number }[];
  /** Prefix of the stores' keys and of the adapter's channels. */
  keyPrefix: string;
}

/** A single node on MongoDB (or FerretDB): `MongoEventStore` and `MongoDedupStore`. */
export interface MongoNodeConfig extends CommonNodeConfig {
  store: "mongodb";
  mongodbUrl: string;
  database: string;
}

/** A single node on a SQLite file (`createSqliteStores`); its handled log is `<path>.handled`. */
export interface SqliteNodeConfig extends CommonNodeConfig {
  store: "sqlite";
  path: string;
}

/**
 * A node on PostgreSQL: `PostgresEventStore` and `PostgresDedupStore` on one pool, and the
 * Socket.IO PostgreSQL adapter (LISTEN/NOTIFY). The database needs the adapter's table and the
 * handled log's first (`preparePostgres` in `postgres-fixture.ts`); the stores make their own.
 */
export interface PostgresNodeConfig extends CommonNodeConfig {
  store: "postgres";
  postgresUrl: string;
}

/**
 * A single node on a store of your own: the module's `chaos.open({ directory })` (see
 * `e2e/src/chaos/store-module.ts`) opens its stores on `directory`, again after a SIGKILL. Its
 * handled log is the SQLite file `handledPath` (default `<directory>.handled`).
 */
export interface CustomNodeConfig extends CommonNodeConfig {
  store: "custom";
  /** Absolute path (or URL) of the module that exports `chaos`. */
  module: string;
  /** Where the store keeps its data, the same for every start of the node. */
  directory: string;
}

/** The environment variable that carries the config. */
export const NODE_CONFIG_ENV = "ASSURED_NODE_CONFIG";

const STORES: readonly NodeConfig["store"][] = [
  "redis",
  "redis-cluster",
  "mongodb",
  "sqlite",
  "postgres",
  "custom",
];

/** Reads the config from the environment; throws on a missing or malformed one. */
export function readNodeConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const raw = env[NODE_CONFIG_ENV];
  if (raw === undefined) throw new Error(`${NODE_CONFIG_ENV} is not set`);
  const config = JSON.parse(raw) as NodeConfig;
  if (typeof config.name !== "string" || !Number.isSafeInteger(config.port)) {
    throw new Error(`${NODE_CONFIG_ENV} needs a name and a port, got ${raw}`);
  }
  if (!STORES.includes(config.store)) {
    throw new Error(`${NODE_CONFIG_ENV}.store must be one of ${STORES.join(", ")}, got ${raw}`);
  }
  return config;
}
