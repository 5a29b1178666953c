import Database from "better-sqlite3";
import type { Cluster, Redis } from "ioredis";
import type { Db } from "mongodb";
import type pg from "pg";

/** One run of the message handler, as the handler itself recorded it. */
export interface HandledEntry {
  /** The message id. */
  id: string;
  /** The node that ran the handler. */
  node: string;
  /** The sending client's name and the message's number, from the message data. */
  client: string;
  n: number;
  /** When the run started, by the node's clock (ms). */
  at: number;
}

/**
 * The application's side effect, shared by every node: each handler run appends an entry, so
 * counting a message id's entries counts how often the handler really ran (G9).
 */
export interface HandledLog {
  /** Appends one run (called by the handler, before it answers). */
  record(entry: HandledEntry): Promise<void>;
  /** Every run recorded so far. */
  entries(): Promise<HandledEntry[]>;
}

/** The handled log as the Redis list `<keyPrefix>handled` (one key: one Cluster slot). */
export class RedisHandledLog implements HandledLog {
  readonly #redis: Redis | Cluster;
  readonly #key: string;

  constructor(redis: Redis | Cluster, keyPrefix: string) {
    this.#redis = redis;
    this.#key = `${keyPrefix}handled`;
  }

  async record(entry: HandledEntry): Promise<void> {
    await this.#redis.rpush(this.#key, JSON.stringify(entry));
  }

  async entries(): Promise<HandledEntry[]> {
    const raw = await this.#redis.lrange(this.#key, 0, -1);
    return raw.map((text) => JSON.parse(text) as HandledEntry);
  }
}

/** The handled log as the MongoDB collection `handled`. */
export class MongoHandledLog implements HandledLog {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async record(entry: HandledEntry): Promise<void> {
    await this.#db
      .collection("handled")
      .insertOne({ ...entry }, { writeConcern: { w: "majority" } });
  }

  async entries(): Promise<HandledEntry[]> {
    const docs = await this.#db.collection("handled").find({}).sort({ _id: 1 }).toArray();
    return docs.map(({ id, node, client, n, at }) => ({ id, node, client, n, at }) as HandledEntry);
  }
}

/** The handled log as the PostgreSQL table `handled` (in the stores' database). */
export class PostgresHandledLog implements HandledLog {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Creates the table if it is missing (once, before the nodes start). */
  static async createTable(pool: pg.Pool): Promise<void> {
    await pool.query(
      "CREATE TABLE IF NOT EXISTS handled (seq bigserial PRIMARY KEY, entry jsonb NOT NULL)",
    );
  }

  async record(entry: HandledEntry): Promise<void> {
    await this.#pool.query("INSERT INTO handled (entry) VALUES ($1)", [JSON.stringify(entry)]);
  }

  async entries(): Promise<HandledEntry[]> {
    const { rows } = await this.#pool.query<{ entry: HandledEntry }>(
      "SELECT entry FROM handled ORDER BY seq",
    );
    return rows.map((row) => row.entry);
  }
}

/**
 * The handled log as a table in its own SQLite file (beside a SQLite node's store, or one file
 * shared by every node process of a run): written synchronously before the handler answers, so
 * it survives a SIGKILL right after, and readable by the test once the node is gone. WAL and a
 * busy timeout let several processes append concurrently.
 */
export class SqliteHandledLog implements HandledLog {
  readonly #db: Database.Database;

  constructor(path: string) {
    // Several node processes append to one file: wait for the write lock rather than fail.
    this.#db = new Database(path, { timeout: 10_000 });
    this.#db.pragma("journal_mode = WAL");
    this.#db.exec(
      "CREATE TABLE IF NOT EXISTS handled (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL)",
    );
  }

  async record(entry: HandledEntry): Promise<void> {
    this.#db.prepare("INSERT INTO handled (entry) VALUES (?)").run(JSON.stringify(entry));
  }

  async entries(): Promise<HandledEntry[]> {
    const rows = this.#db.prepare("SELECT entry FROM handled ORDER BY seq").all() as {
      entry: string;
    }[];
    return rows.map((row) => JSON.parse(row.entry) as HandledEntry);
  }

  /** Closes the file. */
  close(): void {
    this.#db.close();
  }
}

/** How many times the handler ran for each message id. */
export function runsPerMessage(entries: readonly HandledEntry[]): Map<string, number> {
  const runs = new Map<string, number>();
  for (const entry of entries) runs.set(entry.id, (runs.get(entry.id) ?? 0) + 1);
  return runs;
}
