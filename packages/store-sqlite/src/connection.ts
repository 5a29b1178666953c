import { AssuredError } from "@assured/core";
import { toStoreError } from "@assured/core/store";
import type Database from "better-sqlite3";
import { ensureDirectoryOf } from "./database-directory.js";
import { sqliteDriver } from "./driver.js";
import type { ResolvedConnectionOptions } from "./options.js";
import { ensureSchema } from "./schema.js";

/**
 * One better-sqlite3 connection, configured for Assured (WAL, `synchronous`, `busy_timeout`) and
 * migrated to the current schema, shared by the stores that use it. It closes when the last
 * store releases it, unless the application gave its own database.
 */
export class SqliteConnection {
  /** The open database. */
  readonly db: Database.Database;
  /** True when the data outlives the connection (a file, not `:memory:`). */
  readonly persistent: boolean;
  private readonly owned: boolean;
  private users = 0;

  private constructor(db: Database.Database, owned: boolean) {
    this.db = db;
    this.owned = owned;
    this.persistent = !db.memory;
  }

  /**
   * Opens (or adopts) and configures a database, creating the file's directory if missing;
   * throws `INVALID_ARGUMENT` if that directory cannot be created or better-sqlite3 is not
   * installed, `STORE_UNAVAILABLE` if the database cannot be opened.
   */
  static open(options: ResolvedConnectionOptions): SqliteConnection {
    let db: Database.Database | undefined;
    const owned = options.database === undefined;
    const Driver = sqliteDriver();
    if (owned) ensureDirectoryOf(options.path!);
    try {
      db = options.database ?? new Driver(options.path!, { timeout: options.busyTimeoutMs });
      db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
      const mode = db.pragma("journal_mode = WAL", { simple: true });
      if (mode !== "wal" && !db.memory) {
        throw new AssuredError(
          "STORE_UNAVAILABLE",
          `could not switch ${db.name} to WAL mode (it stayed in ${String(mode)} mode).`,
        );
      }
      db.pragma(`synchronous = ${options.synchronous.toUpperCase()}`);
      ensureSchema(db);
      return new SqliteConnection(db, owned);
    } catch (error) {
      if (owned && db?.open) db.close();
      throw toStoreError(error, "opening the SQLite database");
    }
  }

  /**
   * Prepares one more store on this connection: `prepare` builds its statements, then the store
   * counts as a user until it calls `release`. If `prepare` throws, a connection no store uses
   * is closed again and the error becomes an `AssuredError` about `what`.
   */
  attach<T>(prepare: (db: Database.Database) => T, what: string): T {
    try {
      const prepared = prepare(this.db);
      this.users++;
      return prepared;
    } catch (error) {
      this.closeIfUnused();
      throw toStoreError(error, what);
    }
  }

  /** A store stops using the connection; the last one closes it (if the store opened it). */
  release(): void {
    this.users--;
    this.closeIfUnused();
  }

  /** Closes the database if no store uses it and it was opened here. */
  closeIfUnused(): void {
    if (this.users <= 0 && this.owned && this.db.open) {
      try {
        this.db.close();
      } catch (error) {
        throw toStoreError(error, "closing the SQLite database");
      }
    }
  }
}
