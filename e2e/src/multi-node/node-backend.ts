import type { DedupStore, EventStore } from "@assured/core";
import { MongoDedupStore, MongoEventStore } from "@assured/store-mongodb";
import { RedisDedupStore, RedisEventStore } from "@assured/store-redis";
import { createSqliteStores } from "@assured/store-sqlite";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { MongoClient } from "mongodb";
import type { ServerOptions } from "socket.io";
import {
  type HandledLog,
  MongoHandledLog,
  RedisHandledLog,
  SqliteHandledLog,
} from "./handled-log.js";
import type {
  MongoNodeConfig,
  NodeConfig,
  RedisNodeConfig,
  SqliteNodeConfig,
} from "./node-config.js";

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

/** Opens the backend a node config names. */
export function openBackend(config: NodeConfig): NodeBackend {
  if (config.store === "redis") return openRedisBackend(config);
  if (config.store === "sqlite") return openSqliteBackend(config);
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

async function storeAnswers(store: EventStore): Promise<boolean> {
  try {
    await store.head("health");
    return true;
  } catch {
    return false;
  }
}
