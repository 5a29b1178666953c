import { AssuredError, isAssuredError } from "@assured/core";
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
} from "@assured/core/store";
import { openConnection, type StoreConnection } from "./connection.js";
import { DedupBound } from "./dedup-bound.js";
import { type ClaimAttempt, claimOnce } from "./dedup-claim.js";
import { type BatchClaim, type BatchClaimAnswers, claimBatch } from "./dedup-claim-batch.js";
import { DedupWrites, SWEEP_BATCH } from "./dedup-writes.js";
import {
  DEDUP_STORE_OPTION_KEYS,
  type PostgresDedupStoreOptions,
  resolveMaxDedupEntries,
  resolveStoreOptions,
  resolveSweepInterval,
} from "./options.js";
import { ensureSchema } from "./schema.js";
import { type StoreTime, storeTime } from "./server-clock.js";
import { StoreLifecycle } from "./store-lifecycle.js";
import { type Tables, tableNames } from "./tables.js";

/** Attempts of a claim whose snapshot keeps missing the concurrent claims that took the key. */
const MAX_CLAIM_ATTEMPTS = 5;

/**
 * A `DedupStore` on PostgreSQL (`pg`): claims with leases, tokens and fencing tokens, stored
 * responses with a TTL, quotas per owner (exact under contention), a bound on all rows
 * (`maxEntries`), a periodic sweep of expired rows, and batches (`claimMany`, `completeMany`).
 * Claims race safely across connections, processes and nodes. Leases and TTLs are measured by
 * the database server's clock unless a `clock` is given.
 *
 * @example
 * const dedup = new PostgresDedupStore({ connection: pool });
 * const claim = await dedup.claim("user:42/msg:abc", { leaseMs: 30_000, fingerprint: digest });
 * if (claim.status === "claimed") {
 *   await dedup.complete("user:42/msg:abc", claim.token, { ok: true, payload }, { ttlMs: 86_400_000 });
 * }
 */
export class PostgresDedupStore implements DedupStore {
  /** Shared, persistent, exact quotas. */
  readonly capabilities: DedupStoreCapabilities = {
    sharedAcrossInstances: true,
    persistent: true,
    quotaUnderContention: "exact",
  };
  private readonly connection: StoreConnection;
  private readonly tables: Tables;
  private readonly now: StoreTime;
  private readonly lifecycle: StoreLifecycle;
  private readonly writes: DedupWrites;
  private readonly bound: DedupBound;
  private readonly sweepTimer: NodeJS.Timeout | undefined;

  /** Validates the options (`INVALID_ARGUMENT`); connects lazily, on the first call. */
  constructor(options: PostgresDedupStoreOptions) {
    const resolved = resolveStoreOptions(
      options,
      "PostgresDedupStore",
      DEDUP_STORE_OPTION_KEYS,
      "PostgresDedupStoreOptions",
    );
    const sweepIntervalMs = resolveSweepInterval(options.sweepIntervalMs);
    const maxEntries = resolveMaxDedupEntries(options.maxEntries);
    this.tables = tableNames(resolved.schema, resolved.tablePrefix, resolved.preparedStatements);
    this.connection = openConnection(resolved);
    this.now = storeTime(this.connection.pool, resolved.clock);
    this.writes = new DedupWrites(this.connection.pool, this.tables);
    this.bound = new DedupBound(this.connection.pool, this.tables, this.writes, maxEntries);
    this.lifecycle = new StoreLifecycle(
      () => ensureSchema(this.connection.pool, this.tables),
      this.connection,
      "PostgresDedupStore",
    );
    if (sweepIntervalMs > 0) {
      this.sweepTimer = setInterval(() => {
        this.sweepExpired().catch(() => undefined);
      }, sweepIntervalMs);
      this.sweepTimer.unref();
    }
  }

  /** Takes the key, or reports who holds it or what it answered; see `ClaimResult`. */
  async claim(key: string, options: ClaimOptions): Promise<ClaimResult> {
    this.lifecycle.assertOpen();
    assertClaimArguments(key, options);
    return this.lifecycle.run("claim", async () => {
      const now = await this.now();
      await this.bound.check(key, now);
      const claimed = await this.claimKey(key, options, now);
      if (claimed.inserted) this.bound.inserted();
      return claimed.result;
    });
  }

  /**
   * A claim after the bound's check. No owner: `claimOnce`, again while it races (see
   * `claimOnce`). An owner: a batch of one (`claimBatch`), which keeps the owner's quota exact.
   */
  private async claimKey(
    key: string,
    options: ClaimOptions,
    now: number,
  ): Promise<{ result: ClaimResult; inserted: boolean }> {
    if (options.owner !== undefined) {
      const answers = await claimBatch(
        this.connection.pool,
        this.tables,
        [{ key, options }],
        now,
        MAX_CLAIM_ATTEMPTS,
      );
      const outcome = answers.outcomes[0]!;
      if ("error" in outcome) throw outcome.error;
      return { result: outcome.result, inserted: answers.inserted === 1 };
    }
    for (let attempt = 1; ; attempt++) {
      const attempted: ClaimAttempt = await claimOnce(
        this.connection.pool,
        this.tables,
        key,
        options,
        now,
      );
      if (attempted !== "retry") return attempted;
      if (attempt >= MAX_CLAIM_ATTEMPTS) {
        throw new AssuredError(
          "STORE_UNAVAILABLE",
          "claim kept racing concurrent claims of the same new key; retry it.",
        );
      }
    }
  }

  /** A batch of one claim: the single claim (fewer round trips), its quota refusal as answer. */
  private async claimAlone(claim: BatchClaim, now: number): Promise<BatchClaimAnswers> {
    try {
      const { result, inserted } = await this.claimKey(claim.key, claim.options, now);
      return { outcomes: [{ result }], inserted: inserted ? 1 : 0 };
    } catch (error) {
      if (!isAssuredError(error, "QUOTA_EXCEEDED")) throw error;
      return { outcomes: [{ error }], inserted: 0 };
    }
  }

  /**
   * Claims each request in order, as `claim` one after the other would, in one transaction of
   * three round trips whatever the batch's size (`BEGIN` with the owners' locks and one read,
   * one write, `COMMIT`; see `claimBatch`; a batch of one is a single claim); an item's own error
   * (`INVALID_ARGUMENT`, `QUOTA_EXCEEDED`, `LIMIT_EXCEEDED`) is its `rejected` result. See
   * `DedupStore.claimMany`.
   */
  async claimMany(requests: readonly ClaimRequest[]): Promise<BatchItemResult<ClaimResult>[]> {
    this.lifecycle.assertOpen();
    assertDedupBatch(requests, "claimMany");
    const results: (BatchItemResult<ClaimResult> | undefined)[] = requests.map((request) => {
      const error = claimRequestError(request);
      return error === undefined ? undefined : { status: "rejected", reason: error };
    });
    if (results.every((r) => r !== undefined)) return results as BatchItemResult<ClaimResult>[];
    return this.lifecycle.run("claimMany", async () => {
      const now = await this.now();
      const valid = results.flatMap((r, i) => (r === undefined ? [i] : []));
      const refused = await this.bound.checkMany(
        valid.map((i) => requests[i]!.key),
        now,
      );
      const claims: BatchClaim[] = [];
      const positions: number[] = [];
      valid.forEach((i, n) => {
        const error = refused[n];
        if (error !== undefined) results[i] = { status: "rejected", reason: error };
        else {
          claims.push(requests[i]!);
          positions.push(i);
        }
      });
      if (claims.length > 0) {
        const answers =
          claims.length === 1
            ? await this.claimAlone(claims[0]!, now)
            : await claimBatch(this.connection.pool, this.tables, claims, now, MAX_CLAIM_ATTEMPTS);
        this.bound.inserted(answers.inserted);
        answers.outcomes.forEach((outcome, n) => {
          results[positions[n]!] =
            "error" in outcome
              ? { status: "rejected", reason: outcome.error }
              : { status: "fulfilled", value: outcome.result };
        });
      }
      return results as BatchItemResult<ClaimResult>[];
    });
  }

  /**
   * Stores each response in order, as `complete` one after the other would, in one statement
   * (one round trip, see `DedupWrites.completeMany`); an invalid item is its `rejected` result.
   * See `DedupStore.completeMany`.
   */
  async completeMany(requests: readonly CompleteRequest[]): Promise<BatchItemResult<boolean>[]> {
    this.lifecycle.assertOpen();
    assertDedupBatch(requests, "completeMany");
    const results: (BatchItemResult<boolean> | undefined)[] = requests.map((request) => {
      const error = completeRequestError(request);
      return error === undefined ? undefined : { status: "rejected", reason: error };
    });
    if (results.every((r) => r !== undefined)) return results as BatchItemResult<boolean>[];
    return this.lifecycle.run("completeMany", async () => {
      const valid = results.flatMap((r, i) => (r === undefined ? [i] : []));
      const stored = await this.writes.completeMany(
        valid.map((i) => {
          const { key, token, response, options } = requests[i]!;
          return { key, token, response, ttlMs: options.ttlMs };
        }),
        await this.now(),
      );
      valid.forEach((i, n) => {
        results[i] = { status: "fulfilled", value: stored[n]! };
      });
      return results as BatchItemResult<boolean>[];
    });
  }

  /** Stores the response for `key`, kept `ttlMs`; false if `token` no longer holds the key. */
  async complete(
    key: string,
    token: string,
    response: StoredResponse,
    options: { ttlMs: number },
  ): Promise<boolean> {
    this.lifecycle.assertOpen();
    assertCompleteArguments(key, token, response, options);
    return this.lifecycle.run("complete", async () =>
      this.writes.complete(key, token, response, options.ttlMs, await this.now()),
    );
  }

  /** Frees `key` at once without a response; false if `token` no longer holds it. */
  async release(key: string, token: string): Promise<boolean> {
    this.lifecycle.assertOpen();
    assertReleaseArguments(key, token);
    return this.lifecycle.run("release", () => this.writes.release(key, token));
  }

  /**
   * Makes the lease end `leaseMs` from now (the store's clock); false if `token` no longer
   * holds the key (taken over, completed, released, expired, unknown key).
   */
  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    this.lifecycle.assertOpen();
    assertRenewArguments(key, token, leaseMs);
    return this.lifecycle.run("renew", async () =>
      this.writes.renew(key, token, leaseMs, await this.now()),
    );
  }

  /**
   * Deletes expired leases, released keys and expired responses now (the timer does it every
   * `sweepIntervalMs`), 1,000 rows per statement. Returns how many it deleted.
   */
  async sweepExpired(): Promise<number> {
    return this.lifecycle.run("sweep", async () => {
      const now = await this.now();
      let total = 0;
      for (;;) {
        if (this.lifecycle.isClosed) return total;
        const deleted = await this.writes.sweepBatch(now);
        total += deleted;
        if (deleted < SWEEP_BATCH) return total;
      }
    });
  }

  /** Stops the sweep timer, waits for running calls, ends a pool the store created. Idempotent. */
  async close(): Promise<void> {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    await this.lifecycle.close();
  }
}
