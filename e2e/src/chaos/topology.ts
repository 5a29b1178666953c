import { join } from "node:path";
import { decode } from "@assured/core";
import { type EventStore, newId } from "@assured/core/store";
import { MongoEventStore } from "@assured/store-mongodb";
import { PostgresEventStore } from "@assured/store-postgres";
import { RedisEventStore } from "@assured/store-redis";
import { createSqliteStores } from "@assured/store-sqlite";
import { freePort, type RunningService, startRedisCluster } from "@assured/test-services";
import { Cluster, Redis } from "ioredis";
import { MongoClient } from "mongodb";
import pg from "pg";
import {
  type HandledEntry,
  MongoHandledLog,
  PostgresHandledLog,
  RedisHandledLog,
  SqliteHandledLog,
} from "../multi-node/handled-log.js";
import type { NodeConfig } from "../multi-node/node-config.js";
import { NodeProcess } from "../multi-node/node-process.js";
import { preparePostgres } from "../multi-node/postgres-fixture.js";
import { clockFileOf, writeClockOffset } from "./clock-jump.js";
import type { Topology } from "./profiles.js";
import { openChaosStores } from "./store-module.js";
import {
  FerretStoreProcess,
  PostgresStoreProcess,
  RedisStoreProcess,
  type RestartableStore,
  SqliteStoreFile,
  type StoreRestartMode,
  StoreRestarts,
} from "./store-restarts.js";

/**
 * A short heartbeat, so a stalled or half-open connection is noticed within 2 s, and a short
 * lease, so a message whose node was killed mid-handler is run again within seconds.
 */
const HEARTBEAT = { pingIntervalMs: 1_000, pingTimeoutMs: 1_000, leaseMs: 5_000 };

/** A stream's log as the store holds it at the end of a run: the checker's truth. */
export interface StoredLog {
  epoch: string;
  head: number;
  earliest: number;
  events: Map<number, unknown>;
  /** The id of the event at `head` (absent when the log is empty or was not read whole). */
  headId?: string;
}

/**
 * The servers of a chaos run: the store (a Redis, a PostgreSQL, a SQLite file or a Mongo-wire
 * server) and node processes on it, each on a fixed loopback port so a killed node comes back
 * where the proxy looks for it.
 */
export class ChaosTopology {
  readonly kind: Topology;
  /** The `restart-store` fault's injector, when the run asked for it and the store can restart. */
  storeRestarts: StoreRestarts | undefined;
  readonly #configs: NodeConfig[];
  readonly #nodes: (NodeProcess | undefined)[];
  readonly #holds = new Map<number, Promise<void>>();
  readonly #starts = new Map<number, Promise<void>>();
  readonly #service: RunningService | undefined;
  readonly #close: () => Promise<void>;

  private constructor(
    kind: Topology,
    configs: NodeConfig[],
    service: RunningService | undefined,
    close: () => Promise<void>,
  ) {
    this.kind = kind;
    this.#configs = configs;
    this.#nodes = configs.map(() => undefined);
    this.#service = service;
    this.#close = close;
  }

  /**
   * Starts the store and `nodes` node processes (data files go into `dir`). Topology `custom`
   * needs `options.storeModule`, the absolute path of the module that exports `chaos`.
   */
  static async start(
    kind: Topology,
    nodes: number,
    dir: string,
    options: {
      storeModule?: string;
      /** Store restarts to inject (modes the store does not support are left out). */
      storeRestarts?: { modes: readonly StoreRestartMode[]; streams: readonly string[] };
    } = {},
  ): Promise<ChaosTopology> {
    const ports = await Promise.all(Array.from({ length: nodes }, () => freePort()));
    let topology: ChaosTopology;
    let store: RestartableStore | undefined;
    // One handled log for every node process, outside the store (which may restart empty).
    const handledPath = join(dir, "handled.sqlite");
    new SqliteHandledLog(handledPath).close();
    if (kind === "redis") {
      const redis = await RedisStoreProcess.start(join(dir, "redis-snapshot.rdb"));
      const keyPrefix = `chaos:${newId()}:`;
      const configs: NodeConfig[] = ports.map((port, i) => ({
        name: `n${i}`,
        port,
        store: "redis",
        redisUrl: redis.url,
        keyPrefix,
        handledPath,
        ...HEARTBEAT,
      }));
      topology = new ChaosTopology(kind, configs, undefined, () => redis.stop());
      store = redis;
    } else if (kind === "redis-cluster") {
      const cluster = await startRedisCluster({ masters: 3 });
      const keyPrefix = `chaos:${newId()}:`;
      const configs: NodeConfig[] = ports.map((port, i) => ({
        name: `n${i}`,
        port,
        store: "redis-cluster",
        clusterNodes: cluster.nodes,
        keyPrefix,
        handledPath,
        ...HEARTBEAT,
      }));
      topology = new ChaosTopology(kind, configs, undefined, () => cluster.stop());
    } else if (kind === "custom") {
      if (options.storeModule === undefined) {
        throw new Error(
          "topology custom needs the module of the store (pnpm chaos --store <module>)",
        );
      }
      const configs: NodeConfig[] = [
        {
          name: "n0",
          port: ports[0]!,
          store: "custom",
          module: options.storeModule,
          directory: join(dir, "custom-store"),
          handledPath,
          ...HEARTBEAT,
        },
      ];
      topology = new ChaosTopology(kind, configs, undefined, async () => {});
    } else if (kind === "postgres") {
      const postgres = await PostgresStoreProcess.start();
      try {
        await preparePostgres(postgres.url);
      } catch (error) {
        await postgres.stop();
        throw error;
      }
      const configs: NodeConfig[] = ports.map((port, i) => ({
        name: `n${i}`,
        port,
        store: "postgres",
        postgresUrl: postgres.url,
        handledPath,
        ...HEARTBEAT,
      }));
      topology = new ChaosTopology(kind, configs, undefined, () => postgres.stop());
      store = postgres;
    } else if (kind === "sqlite") {
      const path = join(dir, "chaos.sqlite");
      const configs: NodeConfig[] = [
        { name: "n0", port: ports[0]!, store: "sqlite", path, handledPath, ...HEARTBEAT },
      ];
      const t = new ChaosTopology(kind, configs, undefined, async () => {});
      // The restore holds the node down from its kill until the older file is in place.
      let release = () => {};
      const node = {
        kill: () => {
          release = t.hold(0);
          return t.killNode(0);
        },
        start: () => {
          release();
          return t.startNode(0);
        },
      };
      store = new SqliteStoreFile(path, join(dir, "chaos-snapshot.sqlite"), node);
      topology = t;
    } else {
      const ferret = await FerretStoreProcess.start();
      const database = `chaos_${newId().replace(/[^a-zA-Z0-9]/g, "")}`.slice(0, 40);
      const configs: NodeConfig[] = [
        {
          name: "n0",
          port: ports[0]!,
          store: "mongodb",
          mongodbUrl: ferret.url,
          database,
          handledPath,
          ...HEARTBEAT,
        },
      ];
      topology = new ChaosTopology(kind, configs, undefined, () => ferret.stop());
      store = ferret;
    }
    if (store !== undefined && options.storeRestarts !== undefined) {
      const { modes, streams } = options.storeRestarts;
      const t = topology;
      topology.storeRestarts = new StoreRestarts(store, modes, () => t.readLogs(streams));
    }
    try {
      // A clock file left by an aborted run on the same name and port must not jump a new node.
      for (const config of topology.#configs) writeClockOffset(clockFileOf(config), 0);
      for (let i = 0; i < nodes; i++) await topology.startNode(i);
    } catch (error) {
      await topology.close();
      throw error;
    }
    return topology;
  }

  /** Node count. */
  get size(): number {
    return this.#configs.length;
  }

  /** The node's name. */
  name(i: number): string {
    return this.#configs[i]!.name;
  }

  /** The ports of every node, in order (the proxy tries them in turn). */
  ports(): number[] {
    return this.#configs.map((c) => c.port);
  }

  /** Running nodes. */
  live(): NodeProcess[] {
    return this.#nodes.filter((n): n is NodeProcess => n?.running === true);
  }

  /** True while node `i` runs. */
  running(i: number): boolean {
    return this.#nodes[i]?.running === true;
  }

  /** Starts node `i` (again, on its port) and waits until it is healthy. */
  async startNode(i: number): Promise<void> {
    // A restore in progress keeps the node down; concurrent starts share one.
    while (this.#holds.has(i)) await this.#holds.get(i);
    const pending = this.#starts.get(i);
    if (pending) return pending;
    if (this.running(i)) return;
    const start = this.#start(i).finally(() => this.#starts.delete(i));
    this.#starts.set(i, start);
    return start;
  }

  /**
   * Keeps node `i` down (every `startNode(i)` waits) until the returned release is called: a
   * store restore replaces the node's data file while it is down.
   */
  hold(i: number): () => void {
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#holds.set(i, held);
    return () => {
      this.#holds.delete(i);
      release();
    };
  }

  async #start(i: number): Promise<void> {
    const node = await NodeProcess.start(this.#configs[i]!);
    this.#nodes[i] = node;
    const deadline = Date.now() + 20_000;
    while (!(await node.healthy())) {
      if (Date.now() > deadline) throw new Error(`node ${node.config.name} never healthy`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** SIGKILLs node `i`. */
  async killNode(i: number): Promise<void> {
    // A start in progress finishes first, so the node it starts is the one killed.
    await this.#starts.get(i)?.catch(() => undefined);
    await this.#nodes[i]?.kill();
  }

  /** Every stream's log as the store holds it now. */
  async readLogs(streams: readonly string[]): Promise<Map<string, StoredLog>> {
    const store = await this.#openStore();
    try {
      const logs = new Map<string, StoredLog>();
      for (const stream of streams) logs.set(stream, await readWholeLog(store.store, stream));
      return logs;
    } finally {
      await store.close();
    }
  }

  /** Every handler run the nodes recorded, in the order they recorded them. */
  async readHandled(): Promise<HandledEntry[]> {
    const config = this.#configs[0]!;
    if (config.handledPath !== undefined) return readSqliteHandled(config.handledPath);
    if (config.store === "custom") return readSqliteHandled(`${config.directory}.handled`);
    if (config.store === "redis-cluster") {
      const cluster = new Cluster(config.clusterNodes);
      try {
        return await new RedisHandledLog(cluster, config.keyPrefix).entries();
      } finally {
        cluster.disconnect();
      }
    }
    if (config.store === "redis") {
      const redis = new Redis(config.redisUrl);
      try {
        return await new RedisHandledLog(redis, config.keyPrefix).entries();
      } finally {
        redis.disconnect();
      }
    }
    if (config.store === "postgres") {
      const pool = new pg.Pool({ connectionString: config.postgresUrl, max: 1 });
      try {
        return await new PostgresHandledLog(pool).entries();
      } finally {
        await pool.end();
      }
    }
    if (config.store === "sqlite") {
      const log = new SqliteHandledLog(`${config.path}.handled`);
      try {
        return await log.entries();
      } finally {
        log.close();
      }
    }
    const client = new MongoClient(config.mongodbUrl);
    try {
      return await new MongoHandledLog(client.db(config.database)).entries();
    } finally {
      await client.close();
    }
  }

  /** Stops every node and the store. */
  async close(): Promise<void> {
    await Promise.allSettled(this.#nodes.map((n) => n?.stop()));
    await this.#close();
    void this.#service;
  }

  async #openStore(): Promise<{ store: EventStore; close(): Promise<void> }> {
    const config = this.#configs[0]!;
    if (config.store === "redis-cluster") {
      const cluster = new Cluster(config.clusterNodes);
      const store = new RedisEventStore({ redis: cluster, keyPrefix: config.keyPrefix });
      return {
        store,
        close: async () => {
          await store.close();
          cluster.disconnect();
        },
      };
    }
    if (config.store === "custom") {
      const stores = await openChaosStores(config.module, config.directory);
      return { store: stores.eventStore, close: () => stores.close() };
    }
    if (config.store === "redis") {
      const store = new RedisEventStore({ redis: config.redisUrl, keyPrefix: config.keyPrefix });
      return { store, close: () => store.close() };
    }
    if (config.store === "postgres") {
      const store = new PostgresEventStore({ connection: config.postgresUrl });
      return { store, close: () => store.close() };
    }
    if (config.store === "sqlite") {
      const stores = createSqliteStores({ path: config.path });
      return { store: stores.eventStore, close: () => stores.close() };
    }
    const client = new MongoClient(config.mongodbUrl);
    const store = new MongoEventStore({ connection: client, database: config.database });
    return {
      store,
      close: async () => {
        await store.close();
        await client.close();
      },
    };
  }
}

async function readSqliteHandled(path: string): Promise<HandledEntry[]> {
  const log = new SqliteHandledLog(path);
  try {
    return await log.entries();
  } finally {
    log.close();
  }
}

async function readWholeLog(store: EventStore, stream: string): Promise<StoredLog> {
  const head = await store.head(stream);
  const events = new Map<number, unknown>();
  let headId: string | undefined;
  let after = head.earliest - 1;
  while (after < head.head) {
    const page = await store.read(stream, { after, limit: 10_000 });
    if (page.epoch !== head.epoch || page.records.length === 0) break;
    for (const record of page.records) {
      events.set(record.offset, decode(record.payload));
      if (record.offset === head.head) headId = record.id;
    }
    after = page.records[page.records.length - 1]!.offset;
  }
  return { epoch: head.epoch, head: head.head, earliest: head.earliest, events, headId };
}
