import { AssuredError } from "@assured/core";
import {
  assertClaimArguments,
  assertCompleteArguments,
  assertDedupBatch,
  assertReleaseArguments,
  assertRenewArguments,
  type BatchItemResult,
  type ClaimOptions,
  type ClaimRequest,
  type ClaimResult,
  type CompleteRequest,
  claimRequestError,
  completeRequestError,
  type DedupStore,
  type DedupStoreCapabilities,
  type StoredResponse,
  toStoreError,
} from "@assured/core/store";
import { SqliteConnection } from "./connection.js";
import { DedupTable, SWEEP_BATCH } from "./dedup-table.js";
import {
  assertOptionsObject,
  DEDUP_STORE_OPTION_KEYS,
  resolveClock,
  resolveConnectionOptions,
  resolveMaxEntries,
  resolveSweepInterval,
  type SqliteDedupStoreOptions,
} from "./options.js";
import { SweepTimer } from "./sweep-timer.js";

/**
 * A `DedupStore` on a SQLite file (better-sqlite3, WAL mode): claims with leases and tokens,
 * stored responses with a TTL, and a periodic sweep that deletes expired rows. Claims race
 * safely across connections and processes sharing the file. Rows are bounded per owner
 * (`owner.maxEntries` of each claim, `QUOTA_EXCEEDED`) and in all (`maxEntries`,
 * `LIMIT_EXCEEDED`), exactly: both are checked inside the claim's write transaction.
 *
 * @example
 * const dedup = new SqliteDedupStore({ path: "assured.sqlite" });
 * const claim = await dedup.claim("user:42/msg:abc", { leaseMs: 30_000, fingerprint: digest });
 * if (claim.status === "claimed") {
 *   await dedup.complete("user:42/msg:abc", claim.token, { ok: true, payload }, { ttlMs: 86_400_000 });
 * }
 */
export class SqliteDedupStore implements DedupStore {
  /** Shared and persistent (unless `:memory:`). */
  readonly capabilities: DedupStoreCapabilities;
  private readonly connection: SqliteConnection;
  private readonly table: DedupTable;
  private readonly sweepTimer: SweepTimer;
  private closed = false;

  /**
   * Opens (creating if needed) the database. Throws `INVALID_ARGUMENT` for bad options,
   * `STORE_UNAVAILABLE` if the file cannot be opened, `STORE_CORRUPT` for a newer schema.
   *
   * @param connection internal: a connection shared with other stores (`createSqliteStores`).
   */
  constructor(options: SqliteDedupStoreOptions, connection?: SqliteConnection) {
    assertOptionsObject(
      options,
      "SqliteDedupStore",
      DEDUP_STORE_OPTION_KEYS,
      "SqliteDedupStoreOptions",
    );
    const clock = resolveClock(options.clock);
    const sweepIntervalMs = resolveSweepInterval(options.sweepIntervalMs);
    const maxEntries = resolveMaxEntries(options.maxEntries);
    this.connection = connection ?? SqliteConnection.open(resolveConnectionOptions(options));
    this.table = this.connection.attach(
      (db) => new DedupTable(db, clock, maxEntries),
      "preparing the dedup store",
    );
    this.capabilities = {
      sharedAcrossInstances: this.connection.persistent,
      persistent: this.connection.persistent,
      quotaUnderContention: "exact",
    };
    this.sweepTimer = new SweepTimer(sweepIntervalMs, () => this.sweepExpired());
  }

  /** Takes the key, or reports who holds it or what it answered; see `ClaimResult`. */
  async claim(key: string, options: ClaimOptions): Promise<ClaimResult> {
    this.assertOpen();
    assertClaimArguments(key, options);
    try {
      return this.table.claim(key, options);
    } catch (error) {
      throw toStoreError(error, "claim");
    }
  }

  /**
   * Claims each request in order, as `claim` one after the other would, in one transaction
   * (each claim in a savepoint: a refused one leaves no trace). See `DedupStore.claimMany`.
   */
  async claimMany(requests: readonly ClaimRequest[]): Promise<BatchItemResult<ClaimResult>[]> {
    this.assertOpen();
    assertDedupBatch(requests, "claimMany");
    const invalid = requests.map(claimRequestError);
    try {
      return this.table.claimMany(requests, invalid);
    } catch (error) {
      throw toStoreError(error, "claimMany");
    }
  }

  /** Stores each response in order, as `complete` for each would, in one transaction. */
  async completeMany(requests: readonly CompleteRequest[]): Promise<BatchItemResult<boolean>[]> {
    this.assertOpen();
    assertDedupBatch(requests, "completeMany");
    const invalid = requests.map(completeRequestError);
    try {
      return this.table.completeMany(requests, invalid);
    } catch (error) {
      throw toStoreError(error, "completeMany");
    }
  }

  /** Stores the response for `key`, kept `ttlMs`; false if `token` no longer holds the key. */
  async complete(
    key: string,
    token: string,
    response: StoredResponse,
    options: { ttlMs: number },
  ): Promise<boolean> {
    this.assertOpen();
    assertCompleteArguments(key, token, response, options);
    try {
      return this.table.complete(key, token, response, options.ttlMs);
    } catch (error) {
      throw toStoreError(error, "complete");
    }
  }

  /** Frees `key` at once without a response; false if `token` no longer holds it. */
  async release(key: string, token: string): Promise<boolean> {
    this.assertOpen();
    assertReleaseArguments(key, token);
    try {
      return this.table.release(key, token);
    } catch (error) {
      throw toStoreError(error, "release");
    }
  }

  /**
   * Makes the lease end `leaseMs` from now (this store's clock); false if `token` no longer
   * holds the key (taken over, completed, released, expired).
   */
  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    this.assertOpen();
    assertRenewArguments(key, token, leaseMs);
    try {
      return this.table.renew(key, token, leaseMs);
    } catch (error) {
      throw toStoreError(error, "renew");
    }
  }

  /**
   * Deletes expired leases and responses now (the timer does it every `sweepIntervalMs`), in
   * transactions of at most 1,000 rows with a yield between them. Returns how many it deleted.
   */
  async sweepExpired(): Promise<number> {
    this.assertOpen();
    let total = 0;
    for (;;) {
      if (this.closed) return total;
      let deleted: number;
      try {
        deleted = this.table.sweepBatch();
      } catch (error) {
        throw toStoreError(error, "sweep");
      }
      total += deleted;
      if (deleted < SWEEP_BATCH) return total;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Stops the sweep timer and releases the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sweepTimer.stop();
    this.connection.release();
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new AssuredError("STORE_CLOSED", "this SqliteDedupStore was closed; create a new one.");
    }
  }
}
