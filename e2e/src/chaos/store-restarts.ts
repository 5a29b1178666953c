/**
 * Store restarts (the `restart-store` fault): the store process is SIGKILLed and comes back on
 * the same port, and the run records what the store held right before and right after, so the
 * checker can judge the `epoch` and `diverged` outcomes clients see against real loss.
 *
 * Modes (each topology supports some):
 * - `persistent`: restarted on the same data, losing nothing (Redis `appendonly yes` +
 *   `appendfsync always`; FerretDB and PostgreSQL on their data directories);
 * - `volatile`: restarted empty (Redis): events and dedup entries are lost, streams get a new
 *   epoch;
 * - `snapshot`: restored from an older snapshot (Redis `SAVE` + a copy of `dump.rdb`; SQLite a
 *   backup-API copy of the database, restored while the node is down): new appends reuse
 *   offsets, so clients must be told `diverged`.
 */
import { copyFile, mkdir, rm } from "node:fs/promises";
import {
  RestartablePostgres,
  type RunningFerretDB,
  type RunningRedis,
  startFerretDB,
  startRedis,
} from "@assured/test-services";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import type { SeededRandom } from "./seeded-random.js";
import type { StoredLog } from "./topology.js";

/** How a store comes back from a restart. */
export type StoreRestartMode = "persistent" | "volatile" | "snapshot";

/** One store restart as the run saw it: the checker's history of the store. */
export interface StoreRestartRecord {
  mode: StoreRestartMode;
  /** When the store was killed, and when it answered again (orchestrator clock, ms). */
  t: number;
  upT: number;
  /** Every stream's log right before the kill and right after the restart (not for `persistent`). */
  before?: Map<string, StoredLog>;
  after?: Map<string, StoredLog>;
}

/** A store the topology can kill and bring back. */
export interface RestartableStore {
  /** The modes this store supports. */
  readonly modes: readonly StoreRestartMode[];
  /** True once `snapshot()` has kept a copy to restore. */
  readonly hasSnapshot: boolean;
  /** Keeps a consistent copy of the store's data now (for a later `snapshot` restart). */
  snapshot(): Promise<void>;
  /** SIGKILLs the store process (or the node that embeds it). */
  kill(): Promise<void>;
  /** Brings the store back on the same port: on the same data, empty, or from the snapshot. */
  start(mode: StoreRestartMode): Promise<void>;
  /** Stops it for good and removes its data. */
  stop(): Promise<void>;
}

/** Redis with `appendonly yes` + `appendfsync always`, restartable in every mode. */
export class RedisStoreProcess implements RestartableStore {
  readonly modes: readonly StoreRestartMode[] = ["persistent", "volatile", "snapshot"];
  #redis: RunningRedis;
  readonly #snapshotPath: string;
  hasSnapshot = false;

  private constructor(redis: RunningRedis, snapshotPath: string) {
    this.#redis = redis;
    this.#snapshotPath = snapshotPath;
  }

  /** Starts a persistent Redis; snapshots are kept at `snapshotPath`. */
  static async start(snapshotPath: string): Promise<RedisStoreProcess> {
    return new RedisStoreProcess(await startRedis({ appendonly: true }), snapshotPath);
  }

  /** `redis://127.0.0.1:<port>` (the same across restarts). */
  get url(): string {
    return this.#redis.url;
  }

  async snapshot(): Promise<void> {
    await withClient(this.#redis.url, (client) => client.call("SAVE"));
    await copyFile(`${this.#redis.dir}/dump.rdb`, this.#snapshotPath);
    this.hasSnapshot = true;
  }

  kill(): Promise<void> {
    return this.#redis.crash();
  }

  async start(mode: StoreRestartMode): Promise<void> {
    const { port, dir } = this.#redis;
    if (mode === "persistent") {
      this.#redis = await startRedis({ port, dir, appendonly: true });
      return;
    }
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    if (mode === "volatile") {
      this.#redis = await startRedis({ port, dir, appendonly: true });
      return;
    }
    // Redis loads dump.rdb only without AOF: start so, then turn the AOF on and wait until its
    // first rewrite (the whole dataset) is on disk, so a later persistent restart keeps it.
    await copyFile(this.#snapshotPath, `${dir}/dump.rdb`);
    this.#redis = await startRedis({ port, dir, appendonly: false });
    await withClient(this.#redis.url, async (client) => {
      await client.config("SET", "appendfsync", "always");
      await client.config("SET", "appendonly", "yes");
      for (;;) {
        const info = await client.info("persistence");
        if (/aof_rewrite_in_progress:0/.test(info) && /aof_rewrite_scheduled:0/.test(info)) {
          if (!/aof_last_bgrewrite_status:ok/.test(info)) throw new Error("AOF rewrite failed");
          return;
        }
        // Polling another process's state: there is no event to wait for.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
  }

  stop(): Promise<void> {
    return this.#redis.stop();
  }
}

/** FerretDB (Mongo wire, SQLite underneath), restarted on its data directory. */
export class FerretStoreProcess implements RestartableStore {
  readonly modes: readonly StoreRestartMode[] = ["persistent"];
  readonly hasSnapshot = false;
  #ferret: RunningFerretDB;

  private constructor(ferret: RunningFerretDB) {
    this.#ferret = ferret;
  }

  /** Starts FerretDB on a free port and a new data directory. */
  static async start(): Promise<FerretStoreProcess> {
    return new FerretStoreProcess(await startFerretDB());
  }

  /** `mongodb://127.0.0.1:<port>/` (the same across restarts). */
  get url(): string {
    return this.#ferret.url;
  }

  async snapshot(): Promise<void> {
    throw new Error("FerretDB restarts only in persistent mode");
  }

  kill(): Promise<void> {
    return this.#ferret.crash();
  }

  async start(mode: StoreRestartMode): Promise<void> {
    if (mode !== "persistent") throw new Error(`FerretDB cannot restart ${mode}`);
    const port = Number(new URL(this.#ferret.url).port);
    this.#ferret = await startFerretDB({ port, dir: this.#ferret.dir });
  }

  stop(): Promise<void> {
    return this.#ferret.stop();
  }
}

/**
 * PostgreSQL (`fsync` on), restarted on its data directory: a SIGKILL of the postmaster and
 * every backend, then crash recovery from the WAL, so every committed transaction survives.
 */
export class PostgresStoreProcess implements RestartableStore {
  readonly modes: readonly StoreRestartMode[] = ["persistent"];
  readonly hasSnapshot = false;
  readonly #postgres: RestartablePostgres;

  private constructor(postgres: RestartablePostgres) {
    this.#postgres = postgres;
  }

  /** Starts PostgreSQL on a free port and a new cluster. */
  static async start(): Promise<PostgresStoreProcess> {
    return new PostgresStoreProcess(await RestartablePostgres.start());
  }

  /** `postgres://postgres@127.0.0.1:<port>/postgres` (the same across restarts). */
  get url(): string {
    return this.#postgres.url;
  }

  async snapshot(): Promise<void> {
    throw new Error("PostgreSQL restarts only in persistent mode");
  }

  kill(): Promise<void> {
    return this.#postgres.kill();
  }

  async start(mode: StoreRestartMode): Promise<void> {
    if (mode !== "persistent") throw new Error(`PostgreSQL cannot restart ${mode}`);
    await this.#postgres.restart();
  }

  stop(): Promise<void> {
    return this.#postgres.stop();
  }
}

/**
 * A SQLite node's database file: no store process, so only `snapshot` (its `persistent` restart
 * is the node kill). The snapshot is a backup-API copy taken while the node runs; the restore
 * kills the node, puts the copy in place of the file (and drops its WAL) and starts the node.
 */
export class SqliteStoreFile implements RestartableStore {
  readonly modes: readonly StoreRestartMode[] = ["snapshot"];
  hasSnapshot = false;

  constructor(
    readonly path: string,
    readonly snapshotPath: string,
    readonly node: { kill(): Promise<void>; start(): Promise<void> },
  ) {}

  async snapshot(): Promise<void> {
    const db = new Database(this.path, { timeout: 10_000 });
    try {
      await db.backup(this.snapshotPath);
    } finally {
      db.close();
    }
    this.hasSnapshot = true;
  }

  kill(): Promise<void> {
    return this.node.kill();
  }

  async start(mode: StoreRestartMode): Promise<void> {
    if (mode !== "snapshot") throw new Error(`a SQLite file cannot restart ${mode}`);
    for (const suffix of ["-wal", "-shm"]) await rm(`${this.path}${suffix}`, { force: true });
    await copyFile(this.snapshotPath, this.path);
    await this.node.start();
  }

  async stop(): Promise<void> {}
}

/**
 * Injects store restarts for a run: picks a mode per injection with the run's seeded random
 * (among the modes both the profile and the store allow), captures every stream's log before
 * and after a lossy restart, and keeps the records for the checker. One restart at a time: an
 * injection during another waits for it.
 */
export class StoreRestarts {
  readonly records: StoreRestartRecord[] = [];
  readonly #store: RestartableStore;
  readonly #modes: readonly StoreRestartMode[];
  readonly #readLogs: () => Promise<Map<string, StoredLog>>;
  /** Restarts run one at a time, in the order they were drawn. */
  #queue: Promise<void> = Promise.resolve();

  constructor(
    store: RestartableStore,
    modes: readonly StoreRestartMode[],
    readLogs: () => Promise<Map<string, StoredLog>>,
  ) {
    this.#store = store;
    this.#modes = modes.filter((mode) => store.modes.includes(mode));
    this.#readLogs = readLogs;
  }

  /** The modes this run injects. */
  get modes(): readonly StoreRestartMode[] {
    return this.#modes;
  }

  /**
   * One `restart-store` fault: the first `snapshot` pick only takes the snapshot (a later one
   * restores it). Logs `restart-store` (target: the mode) and `store-restarted` around it.
   */
  async inject(
    random: SeededRandom,
    note: (fault: string, target?: string, detail?: unknown) => void,
    clock: () => number,
  ): Promise<void> {
    if (this.#modes.length === 0) {
      note("restart-store", undefined, "not injected: no restart mode for this store");
      return;
    }
    const mode = this.#modes[random.int(0, this.#modes.length - 1)]!;
    const downMs = random.int(200, 2_000);
    const run = this.#queue.then(() => this.#restart(mode, downMs, note, clock));
    this.#queue = run.catch(() => undefined);
    await run;
  }

  async #restart(
    mode: StoreRestartMode,
    downMs: number,
    note: (fault: string, target?: string, detail?: unknown) => void,
    clock: () => number,
  ): Promise<void> {
    if (mode === "snapshot" && !this.#store.hasSnapshot) {
      await this.#store.snapshot();
      note("store-snapshot");
      return;
    }
    const lossy = mode !== "persistent";
    const before = lossy ? await this.#readLogs() : undefined;
    const t = clock();
    note("restart-store", mode, { downMs });
    await this.#store.kill();
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.#store.start(mode);
    const upT = clock();
    const after = lossy ? await this.#readLogs() : undefined;
    this.records.push({ mode, t, upT, ...(before && after ? { before, after } : {}) });
    note("store-restarted", mode);
  }
}

async function withClient<T>(url: string, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on("error", () => {});
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}
