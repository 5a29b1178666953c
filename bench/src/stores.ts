// The stores Assured is measured with. Memory is always there; SQLite, Redis, MongoDB and
// PostgreSQL are opened at run time and probed with one append, one read and one claim. A store whose package
// or server does not work is reported as "unavailable: reason" instead of failing the run.
// Database servers start once per run; every scenario gets fresh, empty stores (`renewStores`).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode, MemoryDedupStore, MemoryEventStore } from "@assured/core";
import { type DedupStore, type EventStore, newId } from "@assured/core/store";
import type { Redis } from "ioredis";
import { settleWithin } from "./countdown.js";
import {
  mongoRawWriter,
  postgresRawWriter,
  type RawWriter,
  redisRawWriter,
  sqliteRawWriter,
} from "./raw-writers.js";
import { reasonOf } from "./reason.js";

/** The Assured store variants, in report order. */
export const STORE_KINDS = ["memory", "sqlite", "redis", "mongodb", "postgres"] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** An event store and a dedup store of one kind, ready for use. */
export interface BenchStores {
  kind: StoreKind;
  /** How the store runs, for the report (e.g. "redis-server on loopback, no persistence"). */
  setup: string;
  eventStore: EventStore;
  dedupStore: DedupStore;
  /** The same database written with its bare driver (none for memory). */
  raw: RawWriter | undefined;
  close(): Promise<void>;
}

/** A store kind that could be opened (its current stores), or why not. */
export type StoreAvailability =
  | { kind: StoreKind; available: true; stores: BenchStores }
  | { kind: StoreKind; available: false; reason: string };

/** A store kind's server (if any), started once; `open` makes fresh stores on it. */
interface StoreBackend {
  open(generation: number): Promise<BenchStores>;
  stop(): Promise<void>;
}

/** Events the memory store keeps per stream: enough for the catch-up scenario. */
const MEMORY_MAX_LENGTH = 1_000_000;
/** How long closing a store or stopping a server may take before the run goes on. */
const CLOSE_TIMEOUT_MS = 15_000;
/** How long opening and probing a store may take before it counts as unavailable. */
const PROBE_TIMEOUT_MS = 20_000;

const backends = new Map<StoreKind, StoreBackend>();
let generation = 0;

/**
 * Starts every store kind of `kinds` (default: all) that works here and opens its first stores.
 * `runId` keeps this run's data apart (key prefix, database or schema name, temp file).
 */
export async function openStores(
  runId: string,
  kinds: readonly StoreKind[] = STORE_KINDS,
): Promise<StoreAvailability[]> {
  const starters: Record<StoreKind, () => Promise<StoreBackend>> = {
    memory: async () => memoryBackend(),
    sqlite: () => sqliteBackend(runId),
    redis: () => redisBackend(runId),
    mongodb: () => mongoBackend(runId),
    postgres: () => postgresBackend(runId),
  };
  const result: StoreAvailability[] = [];
  for (const kind of STORE_KINDS.filter((k) => kinds.includes(k))) {
    let backend: StoreBackend | undefined;
    try {
      backend = await withTimeout(starters[kind](), PROBE_TIMEOUT_MS, `starting ${kind}`);
      const stores = await openProbed(backend);
      backends.set(kind, backend);
      result.push({ kind, available: true, stores });
    } catch (error) {
      await backend?.stop().catch(() => {});
      result.push({ kind, available: false, reason: reasonOf(error) });
    }
  }
  return result;
}

/** Closes every available kind's stores and replaces them with fresh, empty ones. */
export async function renewStores(list: StoreAvailability[]): Promise<void> {
  for (const [i, a] of list.entries()) {
    if (!a.available) continue;
    await settleWithin(a.stores.close(), CLOSE_TIMEOUT_MS);
    try {
      list[i] = { kind: a.kind, available: true, stores: await openProbed(backends.get(a.kind)!) };
    } catch (error) {
      list[i] = { kind: a.kind, available: false, reason: reasonOf(error) };
    }
  }
}

/** Closes every store and stops the database servers this run started. */
export async function closeStores(list: StoreAvailability[]): Promise<void> {
  for (const a of list) if (a.available) await settleWithin(a.stores.close(), CLOSE_TIMEOUT_MS);
  for (const backend of backends.values()) await settleWithin(backend.stop(), CLOSE_TIMEOUT_MS);
  backends.clear();
}

async function openProbed(backend: StoreBackend): Promise<BenchStores> {
  const stores = await withTimeout(backend.open(++generation), PROBE_TIMEOUT_MS, "opening");
  try {
    await withTimeout(probe(stores), PROBE_TIMEOUT_MS, "probing");
  } catch (error) {
    await stores.close().catch(() => {});
    throw error;
  }
  return stores;
}

function memoryBackend(): StoreBackend {
  return {
    open: async () => ({
      kind: "memory",
      setup: "in-process memory",
      eventStore: new MemoryEventStore({ retention: { maxLength: MEMORY_MAX_LENGTH } }),
      dedupStore: new MemoryDedupStore(),
      raw: undefined,
      close: async () => {},
    }),
    stop: async () => {},
  };
}

async function sqliteBackend(runId: string): Promise<StoreBackend> {
  const { createSqliteStores } = await import("@assured/store-sqlite");
  const { default: Database } = await import("better-sqlite3");
  const dir = mkdtempSync(join(tmpdir(), "assured-bench-"));
  return {
    async open(n) {
      const rawDb = new Database(join(dir, `${runId}-${n}-raw.sqlite`));
      try {
        rawDb.pragma("journal_mode = WAL");
        rawDb.pragma("synchronous = NORMAL");
        const stores = createSqliteStores({ path: join(dir, `${runId}-${n}.sqlite`) });
        return {
          kind: "sqlite",
          setup: "temp file, WAL, synchronous=normal (default)",
          eventStore: stores.eventStore,
          dedupStore: stores.dedupStore,
          raw: sqliteRawWriter(rawDb),
          async close() {
            await stores.close();
            rawDb.close();
          },
        };
      } catch (error) {
        rawDb.close();
        throw error;
      }
    },
    stop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function redisBackend(runId: string): Promise<StoreBackend> {
  const { RedisDedupStore, RedisEventStore } = await import("@assured/store-redis");
  const { Redis } = await import("ioredis");
  const given = process.env.REDIS_URL;
  const server = given ? undefined : await (await import("@assured/test-services")).startRedis();
  const url = given ?? server!.url;
  return {
    async open(n) {
      const keyPrefix = `assured-bench:${runId}:${n}:`;
      const client = new Redis(url, { maxRetriesPerRequest: 1 });
      const eventStore = new RedisEventStore({ redis: client, keyPrefix });
      const dedupStore = new RedisDedupStore({ redis: client, keyPrefix });
      return {
        kind: "redis",
        setup: given ? "REDIS_URL" : "redis-server on loopback, no persistence",
        eventStore,
        dedupStore,
        raw: redisRawWriter(client, keyPrefix),
        async close() {
          await eventStore.close();
          await dedupStore.close();
          await deleteKeys(client, `${keyPrefix}*`).catch(() => {});
          client.disconnect();
        },
      };
    },
    stop: async () => server?.stop(),
  };
}

/** Deletes one scenario's keys (they would otherwise stay in a Redis the user gave). */
async function deleteKeys(client: Redis, pattern: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    if (keys.length > 0) await client.del(...keys);
    cursor = next;
  } while (cursor !== "0");
}

async function mongoBackend(runId: string): Promise<StoreBackend> {
  const { MongoDedupStore, MongoEventStore } = await import("@assured/store-mongodb");
  const { MongoClient } = await import("mongodb");
  const given = process.env.MONGODB_URL;
  const server = given ? undefined : await (await import("@assured/test-services")).startFerretDB();
  const client = new MongoClient(given ?? server!.url, { serverSelectionTimeoutMS: 10_000 });
  try {
    await client.connect();
  } catch (error) {
    await server?.stop();
    throw error;
  }
  return {
    async open(n) {
      const database = `assured_bench_${runId.replace(/[^A-Za-z0-9_]/g, "_")}_${n}`;
      const eventStore = new MongoEventStore({ connection: client, database });
      const dedupStore = new MongoDedupStore({ connection: client, database });
      return {
        kind: "mongodb",
        setup: given ? "MONGODB_URL" : "FerretDB (SQLite backend) on loopback",
        eventStore,
        dedupStore,
        raw: mongoRawWriter(client.db(database)),
        async close() {
          await eventStore.close();
          await dedupStore.close();
          await client
            .db(database)
            .dropDatabase()
            .catch(() => {});
        },
      };
    },
    async stop() {
      await client.close();
      await server?.stop();
    },
  };
}

async function postgresBackend(runId: string): Promise<StoreBackend> {
  const { PostgresDedupStore, PostgresEventStore } = await import("@assured/store-postgres");
  const { default: pg } = await import("pg");
  const given = process.env.POSTGRES_URL;
  const server = given ? undefined : await (await import("@assured/test-services")).startPostgres();
  // One pool for both stores and the bare writer, sized like a store's own pool.
  const pool = new pg.Pool({ connectionString: given ?? server!.url, max: 10 });
  pool.on("error", () => {}); // an idle client's error: the next query reports it
  try {
    await pool.query("SELECT 1");
  } catch (error) {
    await pool.end().catch(() => {});
    await server?.stop();
    throw error;
  }
  return {
    async open(n) {
      const schema = `assured_bench_${runId.replace(/[^A-Za-z0-9_]/g, "_")}_${n}`;
      const eventStore = new PostgresEventStore({ connection: pool, schema });
      const dedupStore = new PostgresDedupStore({ connection: pool, schema });
      const close = async () => {
        await eventStore.close();
        await dedupStore.close();
        await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      };
      try {
        return {
          kind: "postgres",
          setup: given
            ? "POSTGRES_URL"
            : `PostgreSQL on loopback, fsync on, data in ${server!.dir.startsWith("/dev/shm") ? "tmpfs (/dev/shm)" : "the temp directory"}`,
          eventStore,
          dedupStore,
          raw: await postgresRawWriter(pool, schema),
          close,
        };
      } catch (error) {
        await close();
        throw error;
      }
    },
    async stop() {
      await pool.end();
      await server?.stop();
    },
  };
}

/** One append, one read and one claim: the store works end to end. */
async function probe(stores: BenchStores): Promise<void> {
  const stream = `bench-probe-${newId()}`;
  const [appended] = await stores.eventStore.append(stream, [
    { name: "probe", payload: encode({ ok: true }) },
  ]);
  const page = await stores.eventStore.read(stream, { after: 0, limit: 10 });
  if (appended?.offset !== 1 || page.records.length !== 1) {
    throw new Error(
      `append/read probe returned offset ${appended?.offset}, ${page.records.length} records`,
    );
  }
  const claim = await stores.dedupStore.claim(`bench-probe/${newId()}`, {
    leaseMs: 10_000,
    fingerprint: "probe",
  });
  if (claim.status !== "claimed") throw new Error(`dedup claim probe returned ${claim.status}`);
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
