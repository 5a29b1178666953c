import { AssuredError } from "@assured/core";
import {
  type BatchItemResult,
  type ClaimOptions,
  type ClaimResult,
  type Clock,
  newId,
  nextFencingToken,
  quotaExceededError,
  type StoredResponse,
} from "@assured/core/store";
import type Database from "better-sqlite3";

interface DedupRow {
  fingerprint: string;
  state: "claimed" | "done";
  expiresAt: number;
  ok: number | null;
  payload: Buffer | null;
  /** The fencing token of the key's latest claim (0 for rows written before fencing). */
  fence: number;
  /** The lease length the holder last asked for (null for rows written before renewals). */
  leaseMs: number | null;
}

/** Rows deleted per sweep transaction, so a sweep never holds the write lock for long. */
export const SWEEP_BATCH = 1_000;

/**
 * The dedup table's SQL, synchronous, on prepared statements. A claim reads and writes its key
 * in one `BEGIN IMMEDIATE` transaction, so of many concurrent claimers (on any connection or
 * process) exactly one wins. A row is live while `expires_at` is in the future: the lease of a
 * claim, the TTL of a stored response. A released row stays, expired (`expires_at` 0) with no
 * token and no owner, until the sweep, so the key's next claim continues its fencing tokens;
 * a claim of a key whose row was swept gets a token from the clock (`nextFencingToken`),
 * larger than the swept row's: rows are deleted only once the clock has passed their token
 * (an owner's expired row that has not is kept, given up by the owner, as after a release).
 *
 * Bounds: `assured_dedup_counts` holds the number of rows per owner and in all, kept by
 * triggers in the same transaction as every insert, delete and owner change (the sweep's
 * too), so reading a count is one primary-key lookup. The counts include expired rows not yet
 * swept: a claim that finds its owner (or the table) at the bound first deletes that owner's
 * expired rows (index `(owner, expires_at)`), or a batch of expired rows, and counts again. So
 * both bounds are exact, inside the claim's write transaction, with no scan per claim.
 */
export class DedupTable {
  private readonly statements;
  /** Claims `key`: `claimed`, `pending`, `done` or `conflict` (see `ClaimResult`). */
  readonly claim: (key: string, options: ClaimOptions) => ClaimResult;
  /** Deletes at most `SWEEP_BATCH` expired rows; returns how many. */
  readonly sweepBatch: () => number;
  /**
   * Claims each request in order in one `BEGIN IMMEDIATE` transaction; each claim in a
   * savepoint of its own, so one refused (quota, bound) leaves no trace and the others stand.
   * `invalid[i]` is item i's argument error (it is skipped). A SQLite failure rolls all back.
   */
  readonly claimMany: (
    requests: readonly { key: string; options: ClaimOptions }[],
    invalid: readonly (AssuredError | undefined)[],
  ) => BatchItemResult<ClaimResult>[];
  /** Stores each response in order in one transaction; as `complete` for each. */
  readonly completeMany: (
    requests: readonly {
      key: string;
      token: string;
      response: StoredResponse;
      options: { ttlMs: number };
    }[],
    invalid: readonly (AssuredError | undefined)[],
  ) => BatchItemResult<boolean>[];

  constructor(
    db: Database.Database,
    private readonly clock: Clock,
    private readonly maxEntries: number,
  ) {
    this.statements = {
      row: db.prepare<[string], DedupRow>(
        "SELECT fingerprint, state, expires_at AS expiresAt, response_ok AS ok, " +
          "response_payload AS payload, fence, lease_ms AS leaseMs " +
          "FROM assured_dedup WHERE dedup_key = ?",
      ),
      take: db.prepare<[string, string, string, number, string | null, number, number]>(
        "INSERT INTO assured_dedup " +
          "(dedup_key, fingerprint, state, token, expires_at, owner, fence, lease_ms) " +
          "VALUES (?, ?, 'claimed', ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO UPDATE SET " +
          "fingerprint = excluded.fingerprint, state = 'claimed', token = excluded.token, " +
          "expires_at = excluded.expires_at, response_ok = NULL, response_payload = NULL, " +
          "owner = excluded.owner, fence = excluded.fence, lease_ms = excluded.lease_ms",
      ),
      exists: db
        .prepare<[string], number>("SELECT 1 FROM assured_dedup WHERE dedup_key = ?")
        .pluck(),
      count: db
        .prepare<[string], number>("SELECT entries FROM assured_dedup_counts WHERE owner = ?")
        .pluck(),
      // An expired row whose token the clock has not passed yet is kept, given up by its owner.
      retireExpiredOf: db.prepare<[string, number, number]>(
        "UPDATE assured_dedup SET owner = NULL, token = NULL " +
          "WHERE owner = ? AND expires_at <= ? AND fence >= ?",
      ),
      dropExpiredOf: db.prepare<[string, number, number]>(
        "DELETE FROM assured_dedup WHERE owner = ? AND expires_at <= ? AND fence < ?",
      ),
      complete: db.prepare<[number, number, Buffer, string, string]>(
        "UPDATE assured_dedup SET state = 'done', token = NULL, expires_at = ?, " +
          "response_ok = ?, response_payload = ? " +
          "WHERE dedup_key = ? AND state = 'claimed' AND token = ?",
      ),
      shorten: db.prepare<[number, string, number]>(
        "UPDATE assured_dedup SET expires_at = ? " +
          "WHERE dedup_key = ? AND state = 'claimed' AND expires_at = ?",
      ),
      release: db.prepare<[string, string]>(
        "UPDATE assured_dedup SET token = NULL, expires_at = 0, owner = NULL " +
          "WHERE dedup_key = ? AND state = 'claimed' AND token = ?",
      ),
      renew: db.prepare<[number, number, string, string, number]>(
        "UPDATE assured_dedup SET expires_at = ?, lease_ms = ? " +
          "WHERE dedup_key = ? AND state = 'claimed' AND token = ? AND expires_at > ?",
      ),
      // Expired rows whose fencing token the clock has passed (see `forgetAfter`).
      sweep: db.prepare<[number, number, number]>(
        "DELETE FROM assured_dedup WHERE dedup_key IN " +
          "(SELECT dedup_key FROM assured_dedup WHERE expires_at <= ? AND fence < ? LIMIT ?)",
      ),
    };
    this.claim = db.transaction(
      (key: string, options: ClaimOptions) => this.claimKey(key, options, "any")!,
    ).immediate;
    const claimOne = db.transaction(
      (key: string, options: ClaimOptions) => this.claimKey(key, options, "any")!,
    );
    this.claimMany = db.transaction(
      (
        requests: readonly { key: string; options: ClaimOptions }[],
        invalid: readonly (AssuredError | undefined)[],
      ) =>
        requests.map((request, i): BatchItemResult<ClaimResult> => {
          const error = invalid[i];
          if (error !== undefined) return { status: "rejected", reason: error };
          try {
            // Below the bounds a claim cannot be refused: no savepoint needed (two statements
            // fewer per claim); at a bound it deletes expired rows first, in a savepoint.
            const value =
              this.claimKey(request.key, request.options, "below bounds") ??
              claimOne(request.key, request.options);
            return { status: "fulfilled", value };
          } catch (thrown) {
            // The item's own refusal; anything else (SQLite failed) rolls the batch back.
            if (thrown instanceof AssuredError) return { status: "rejected", reason: thrown };
            throw thrown;
          }
        }),
    ).immediate;
    this.completeMany = db.transaction(
      (
        requests: readonly {
          key: string;
          token: string;
          response: StoredResponse;
          options: { ttlMs: number };
        }[],
        invalid: readonly (AssuredError | undefined)[],
      ) =>
        requests.map((r, i): BatchItemResult<boolean> => {
          const error = invalid[i];
          if (error !== undefined) return { status: "rejected", reason: error };
          return {
            status: "fulfilled",
            value: this.complete(r.key, r.token, r.response, r.options.ttlMs),
          };
        }),
    ).immediate;
    this.sweepBatch = () => {
      const now = this.clock();
      return this.statements.sweep.run(now, forgetAfter(now), SWEEP_BATCH).changes;
    };
  }

  /**
   * Claims `key` (see `claim`). With `"below bounds"` it writes nothing and answers undefined
   * when the key would become a new entry of an owner or a table at its bound (where the claim
   * first deletes expired rows, and may then be refused).
   */
  private claimKey(
    key: string,
    options: ClaimOptions,
    at: "any" | "below bounds",
  ): ClaimResult | undefined {
    const { leaseMs, fingerprint, owner } = options;
    const now = this.clock();
    const row = this.statements.row.get(key);
    if (row !== undefined && row.expiresAt > now) {
      if (row.fingerprint !== fingerprint) return { status: "conflict" };
      if (row.state === "claimed") {
        return { status: "pending", leaseExpiresAt: this.boundedLeaseEnd(key, row, now, leaseMs) };
      }
      const payload = row.payload ?? Buffer.alloc(0);
      return {
        status: "done",
        response: {
          ok: row.ok === 1,
          payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength),
        },
      };
    }
    // The key becomes a new unexpired entry of its owner: free, or its lease or response expired.
    if (owner !== undefined && this.held(owner.id) >= owner.maxEntries) {
      if (at === "below bounds") return undefined;
      this.statements.retireExpiredOf.run(owner.id, now, forgetAfter(now));
      this.statements.dropExpiredOf.run(owner.id, now, forgetAfter(now));
      if (this.held(owner.id) >= owner.maxEntries) throw quotaExceededError(owner);
    }
    if (this.held("") >= this.maxEntries && this.statements.exists.get(key) === undefined) {
      if (at === "below bounds") return undefined;
      this.statements.sweep.run(now, forgetAfter(now), SWEEP_BATCH);
      if (this.held("") >= this.maxEntries) {
        throw new AssuredError(
          "LIMIT_EXCEEDED",
          `the SQLite dedup store holds ${this.maxEntries} unexpired keys (maxEntries); ` +
            "retry later, or raise maxEntries or shorten TTLs.",
        );
      }
    }
    const token = newId();
    // From the row read first: the bound's deletes above may have removed this key's expired row.
    const fencingToken = nextFencingToken(row?.fence, now);
    this.statements.take.run(
      key,
      fingerprint,
      token,
      now + leaseMs,
      owner?.id ?? null,
      fencingToken,
      leaseMs,
    );
    return { status: "claimed", token, fencingToken };
  }

  /**
   * SQLite has no clock of its own: a lease end is stamped with the claimer's wall clock. One
   * that ends more than `leaseMs` from now was stamped by a clock ahead of ours (a wall clock
   * that has since stepped back, or another process's): left alone, a crashed holder's message
   * would wait the size of the step (up to hours) instead of one lease. It is shortened to end
   * `leaseMs` from now, which still gives a live holder a whole lease. `leaseMs` is the longer
   * of this claim's and the one the holder last asked for, so a renewal for longer stands.
   */
  private boundedLeaseEnd(key: string, row: DedupRow, now: number, claimLeaseMs: number): number {
    const leaseMs = Math.max(claimLeaseMs, row.leaseMs ?? 0);
    if (row.expiresAt - now <= leaseMs) return row.expiresAt;
    this.statements.shorten.run(now + leaseMs, key, row.expiresAt);
    return now + leaseMs;
  }

  /** Rows of `owner` (`""`: of every owner), expired ones not yet deleted included. */
  private held(owner: string): number {
    return this.statements.count.get(owner) ?? 0;
  }

  /** Stores the response if `token` still holds the key; true if it did. */
  complete(key: string, token: string, response: StoredResponse, ttlMs: number): boolean {
    const payload = Buffer.from(
      response.payload.buffer,
      response.payload.byteOffset,
      response.payload.byteLength,
    );
    const expiresAt = this.clock() + ttlMs;
    return (
      this.statements.complete.run(expiresAt, response.ok ? 1 : 0, payload, key, token).changes ===
      1
    );
  }

  /** Gives the key up if `token` still holds it (the row stays, expired); true if it did. */
  release(key: string, token: string): boolean {
    return this.statements.release.run(key, token).changes === 1;
  }

  /** Makes the lease end `leaseMs` from now if `token` still holds it, unexpired; true if so. */
  renew(key: string, token: string, leaseMs: number): boolean {
    const now = this.clock();
    return this.statements.renew.run(now + leaseMs, leaseMs, key, token, now).changes === 1;
  }
}

/**
 * Rows are deleted only when their fencing token is below this (the clock in whole ms): the
 * key's next claim then gets a larger token from the clock, also right after a release.
 */
function forgetAfter(now: number): number {
  return Math.floor(now);
}
