import type { StoredResponse } from "@assured/core/store";
import type { Pool } from "pg";
import { payloadBytes, textBytes } from "./bytes.js";
import type { Tables } from "./tables.js";

/** Rows deleted per sweep statement, so a sweep never holds many row locks for long. */
export const SWEEP_BATCH = 1_000;

/**
 * The dedup writes after a claim, each ONE conditional statement (atomic on its own): the token
 * and the state are checked and the row written together, so a holder whose lease was taken
 * over (a new token) changes nothing.
 */
export class DedupWrites {
  constructor(
    private readonly pool: Pool,
    private readonly t: Tables,
  ) {}

  /** Stores the response for `ttlMs` if `token` still holds the key; true if it did. */
  async complete(
    key: string,
    token: string,
    response: StoredResponse,
    ttlMs: number,
    now: number,
  ): Promise<boolean> {
    const result = await this.pool.query(
      this.t.sql.query(
        `UPDATE ${this.t.dedup} SET state = 'done', token = NULL, expires_at = $3, ` +
          "response_ok = $4, response_payload = $5 " +
          "WHERE dedup_key = $1 AND state = 'claimed' AND token = $2",
        [
          textBytes(key),
          textBytes(token),
          now + ttlMs,
          response.ok,
          payloadBytes(response.payload),
        ],
      ),
    );
    return result.rowCount === 1;
  }

  /**
   * Stores each response, as `complete` one after the other in order would, in ONE statement
   * (one round trip, atomic): per key, the first request (in order) whose token holds the key
   * in the statement's snapshot is written (a later one of the same key finds it done), and
   * the update checks the token again on the row's newest version, so a holder taken over
   * meanwhile writes nothing (a batch of one is `complete`'s simpler statement). Resolves with
   * whether each request stored its response.
   */
  async completeMany(
    requests: readonly { key: string; token: string; response: StoredResponse; ttlMs: number }[],
    now: number,
  ): Promise<boolean[]> {
    if (requests.length === 0) return [];
    if (requests.length === 1) {
      const { key, token, response, ttlMs } = requests[0]!;
      return [await this.complete(key, token, response, ttlMs, now)];
    }
    const { rows } = await this.pool.query<{ i: string }>(
      this.t.sql.replanned(completeManyStatement(this.t), [
        requests.map((r) => textBytes(r.key)),
        requests.map((r) => textBytes(r.token)),
        requests.map((r) => now + r.ttlMs),
        requests.map((r) => r.response.ok),
        requests.map((r) => payloadBytes(r.response.payload)),
      ]),
    );
    const stored = requests.map(() => false);
    for (const row of rows) stored[Number(row.i) - 1] = true;
    return stored;
  }

  /**
   * Gives the key up if `token` still holds it; true if it did. The row stays, expired, with no
   * token and no owner (it frees the owner's place), so the key's next claim continues its
   * fencing tokens; the sweep deletes it.
   */
  async release(key: string, token: string): Promise<boolean> {
    const result = await this.pool.query(
      this.t.sql.query(
        `UPDATE ${this.t.dedup} SET token = NULL, expires_at = '-Infinity', owner = NULL ` +
          "WHERE dedup_key = $1 AND state = 'claimed' AND token = $2",
        [textBytes(key), textBytes(token)],
      ),
    );
    return result.rowCount === 1;
  }

  /** Makes the lease end `leaseMs` from `now` if `token` still holds it, unexpired; true if so. */
  async renew(key: string, token: string, leaseMs: number, now: number): Promise<boolean> {
    const result = await this.pool.query(
      this.t.sql.query(
        `UPDATE ${this.t.dedup} SET expires_at = $3, lease_ms = $4 ` +
          "WHERE dedup_key = $1 AND state = 'claimed' AND token = $2 AND expires_at > $5",
        [textBytes(key), textBytes(token), now + leaseMs, leaseMs, now],
      ),
    );
    return result.rowCount === 1;
  }

  /**
   * Deletes at most `SWEEP_BATCH` expired rows whose fencing token the clock has passed (so the
   * key's next claim gets a larger token from the clock, also right after a release); returns
   * how many.
   */
  async sweepBatch(now: number): Promise<number> {
    const result = await this.pool.query(
      this.t.sql.query(
        `DELETE FROM ${this.t.dedup} WHERE dedup_key IN ` +
          `(SELECT dedup_key FROM ${this.t.dedup} WHERE expires_at <= $1 AND fence < $3 ` +
          "LIMIT $2 FOR UPDATE SKIP LOCKED)",
        [now, SWEEP_BATCH, Math.floor(now)],
      ),
    );
    return result.rowCount ?? 0;
  }
}

const completeManyTexts = new WeakMap<Tables, string>();

/**
 * `completeMany`'s statement: `r` numbers the requests (`i`, from 1), `m` keeps per key the
 * first request whose token holds it, the update writes those and returns their numbers. Each
 * request finds its row through a lateral probe by key (`OFFSET 0` keeps it a probe, not a
 * join the planner may turn into a scan), and the statement is planned at each call
 * (`Statements.replanned`): a prepared generic plan made while the table was small hash-joined
 * a scan of the whole table and kept doing so as it grew (116 µs a row at 22,000 rows).
 */
function completeManyStatement(t: Tables): string {
  let text = completeManyTexts.get(t);
  if (text === undefined) {
    text =
      "WITH r AS (SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::double precision[], " +
      "$4::boolean[], $5::bytea[]) WITH ORDINALITY AS r(k, t, e, ok, p, i)), " +
      "m AS (SELECT DISTINCT ON (r.k) r.* FROM r CROSS JOIN LATERAL " +
      `(SELECT FROM ${t.dedup} d WHERE d.dedup_key = r.k AND d.state = 'claimed' ` +
      "AND d.token = r.t OFFSET 0) h ORDER BY r.k, r.i) " +
      `UPDATE ${t.dedup} AS d SET state = 'done', token = NULL, expires_at = m.e, ` +
      "response_ok = m.ok, response_payload = m.p FROM m " +
      "WHERE d.dedup_key = m.k AND d.state = 'claimed' AND d.token = m.t RETURNING m.i";
    completeManyTexts.set(t, text);
  }
  return text;
}
