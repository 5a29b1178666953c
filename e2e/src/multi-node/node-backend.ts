import type { DedupStore, EventStore } from "@assured/core/store";
import { MongoDedupStore, MongoEventStore } from "@assured/store-mongodb";
import { PostgresDedupStore, PostgresEventStore } from "@assured/store-postgres";
import { RedisDedupStore, RedisEventStore } from "@assured/store-redis";
import { createSqliteStores } from "@assured/store-sqlite";
import { createAdapter } from "@socket.io/redis-adapter";
import { Cluster, Redis } from "ioredis";
import { MongoClient } from "mongodb";
import pg from "pg";
import type { ServerOptions } from "socket.io";
import { openChaosStores } from "../chaos/store-module.js";
import {
  type HandledLog,
  MongoHandledLog,
  PostgresHandledLog,
  RedisHandledLog,
  SqliteHandledLog,
} from "./handled-log.js";
import type {
  CustomNodeConfig,
  MongoNodeConfig,
  NodeConfig,
  PostgresNodeConfig,
  RedisClusterNodeConfig,
  RedisNodeConfig,
  SqliteNodeConfig,
} from "./node-config.js";
import { adapterListening, openPostgresAdapter } from "./postgres-adapter.js";

/** What a node server runs on: its stores, its handled log and (on Redis) its adapter. */
export interface NodeBackend {
  store: EventStore;
  dedupStore: DedupStore;
  handled: HandledLog;
  adapter?: ServerOptions["adapter"];
  /** True once every connection the node needs answers (after a Redis restart, for example). */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Opens the backend a node config names; with `handledPath`, the handled log is that shared
 * SQLite file instead of the store's own.
 */
export async function openBackend(config: NodeConfig): Promise<NodeBackend> {
  const backend = await openStoreBackend(config);
  // A custom node's own handled log is already that file.
  if (config.handledPath === undefined || config.store === "custom") return backend;
  const handled = new SqliteHandledLog(config.handledPath);
  return {
    ...backend,
    handled,
    async close() {
      await backend.close();
      handled.close();
    },
  };
}

async function openStoreBackend(config: NodeConfig): Promise<NodeBackend> {
  if (config.store === "redis") return openRedisBackend(config);
  if (config.store === "redis-cluster") return openRedisClusterBackend(config);
  if (config.store === "sqlite") return openSqliteBackend(config);
  if (config.store === "custom") return openCustomBackend(config);
  if (config.store === "postgres") return openPostgresBackend(config);
  return openMongoBackend(config);
}

function openRedisBackend(config: RedisNodeConfig): NodeBackend {
  const { redisUrl, keyPrefix } = config;
  // The stores create their own clients from the URL (fail fast while Redis is down).
  const store = new RedisEventStore({ redis: redisUrl, keyPrefix });
  const dedupStore = new RedisDedupStore({ redis: redisUrl, keyPrefix });
  const pub = new Redis(redisUrl);
  const sub = pub.duplicate();
  // Connection errors while Redis restarts are expected; ioredis reconnects by itself.
  for (const client of [pub, sub]) client.on("error", () => {});
  return {
    store,
    dedupStore,
    handled: new RedisHandledLog(pub, keyPrefix),
    adapter: createAdapter(pub, sub, { key: `${keyPrefix}socket.io` }),
    healthy: async () =>
      pub.status === "ready" && sub.status === "ready" && (await storeAnswers(store)),
    async close() {
      await Promise.allSettled([store.close(), dedupStore.close()]);
      pub.disconnect();
      sub.disconnect();
    },
  };
}

function openRedisClusterBackend(config: RedisClusterNodeConfig): NodeBackend {
  const { clusterNodes, keyPrefix } = config;
  // One Cluster client for the stores and the adapter's publishing, one for its subscriptions.
  const pub = new Cluster(clusterNodes, { redisOptions: { maxRetriesPerRequest: 1 } });
  const sub = pub.duplicate();
  for (const client of [pub, sub]) client.on("error", () => {});
  const store = new RedisEventStore({ redis: pub, keyPrefix });
  const dedupStore = new RedisDedupStore({ redis: pub, keyPrefix });
  return {
    store,
    dedupStore,
    // One list key: one slot, so it works on the cluster as on one Redis.
    handled: new RedisHandledLog(pub, keyPrefix),
    // The classic adapter: PUBLISH reaches every master's subscribers over the cluster bus.
    adapter: createAdapter(pub, sub, { key: `${keyPrefix}socket.io` }),
    healthy: async () =>
      pub.status === "ready" && sub.status === "ready" && (await storeAnswers(store)),
    async close() {
      await Promise.allSettled([store.close(), dedupStore.close()]);
      pub.disconnect();
      sub.disconnect();
    },
  };
}

async function openCustomBackend(config: CustomNodeConfig): Promise<NodeBackend> {
  const stores = await openChaosStores(config.module, config.directory);
  const handled = new SqliteHandledLog(config.handledPath ?? `${config.directory}.handled`);
  return {
    store: stores.eventStore,
    dedupStore: stores.dedupStore,
    handled,
    healthy: () => storeAnswers(stores.eventStore),
    async close() {
      await stores.close();
      handled.close();
    },
  };
}

function openMongoBackend(config: MongoNodeConfig): NodeBackend {
  const client = new MongoClient(config.mongodbUrl, { serverSelectionTimeoutMS: 2_000 });
  const connection = { connection: client, database: config.database };
  const store = new MongoEventStore(connection);
  const dedupStore = new MongoDedupStore(connection);
  return {
    store,
    dedupStore,
    handled: new MongoHandledLog(client.db(config.database)),
    healthy: () => storeAnswers(store),
    async close() {
      await Promise.allSettled([store.close(), dedupStore.close()]);
      await client.close();
    },
  };
}

function openSqliteBackend(config: SqliteNodeConfig): NodeBackend {
  const { eventStore, dedupStore, close } = createSqliteStores({ path: config.path });
  const handled = new SqliteHandledLog(`${config.path}.handled`);
  return {
    store: eventStore,
    dedupStore,
    handled,
    healthy: () => storeAnswers(eventStore),
    async close() {
      await close();
      handled.close();
    },
  };
}

function openPostgresBackend(config: PostgresNodeConfig): NodeBackend {
  // One pool for both stores and the handled log; the adapter has connections of its own.
  const pool = new pg.Pool({
    connectionString: config.postgresUrl,
    max: 10,
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
  });
  // Idle connections fail while the server restarts; the next query reconnects.
  pool.on("error", () => {});
  const store = new PostgresEventStore({ connection: pool });
  const dedupStore = new PostgresDedupStore({ connection: pool });
  const adapter = openPostgresAdapter(config.postgresUrl, config.name);
  return {
    store,
    dedupStore,
    handled: new PostgresHandledLog(pool),
    adapter: adapter.adapter,
    healthy: async () =>
      (await storeAnswers(store)) &&
      (await adapterListening(pool, adapter.applicationName).catch(() => false)),
    async close() {
      await Promise.allSettled([store.close(), dedupStore.close()]);
      await Promise.allSettled([pool.end(), adapter.close()]);
    },
  };
}

async function storeAnswers(store: EventStore): Promise<boolean> {
  try {
    await store.head("health");
    return true;
  } catch {
    return false;
  }
}
