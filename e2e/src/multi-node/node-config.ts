/** How a node server child process is configured (passed as JSON in `ASSURED_NODE_CONFIG`). */
export type NodeConfig = RedisNodeConfig | MongoNodeConfig | SqliteNodeConfig;

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
}

/** A node on Redis: `RedisEventStore`, `RedisDedupStore` and the Socket.IO Redis adapter. */
export interface RedisNodeConfig extends CommonNodeConfig {
  store: "redis";
  redisUrl: string;
  /** Prefix of every key: the stores', the handled log's and the adapter's channels. */
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

/** The environment variable that carries the config. */
export const NODE_CONFIG_ENV = "ASSURED_NODE_CONFIG";

/** Reads the config from the environment; throws on a missing or malformed one. */
export function readNodeConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const raw = env[NODE_CONFIG_ENV];
  if (raw === undefined) throw new Error(`${NODE_CONFIG_ENV} is not set`);
  const config = JSON.parse(raw) as NodeConfig;
  if (typeof config.name !== "string" || !Number.isSafeInteger(config.port)) {
    throw new Error(`${NODE_CONFIG_ENV} needs a name and a port, got ${raw}`);
  }
  if (config.store !== "redis" && config.store !== "mongodb" && config.store !== "sqlite") {
    throw new Error(`${NODE_CONFIG_ENV}.store must be "redis", "mongodb" or "sqlite", got ${raw}`);
  }
  return config;
}
