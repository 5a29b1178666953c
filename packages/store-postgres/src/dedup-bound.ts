import { AssuredError } from "@assured/core";
import type { Pool } from "pg";
import { textBytes } from "./bytes.js";
import { type DedupWrites, SWEEP_BATCH } from "./dedup-writes.js";
import type { Tables } from "./tables.js";

/** How long a counted number of dedup rows is trusted (this node's own inserts are added). */
const COUNT_CACHE_MS = 1_000;
/** Sweep batches a claim at the bound runs before it gives up with LIMIT_EXCEEDED. */
const SWEEP_BATCHES_AT_BOUND = 10;

/**
 * The bound on all dedup rows together (`maxEntries`). The number of rows is counted at most
 * once a second (a count capped at the bound) and this node's own inserts are added to it in
 * between; so a claim of a new key costs no query below the bound, and concurrent claims of
 * other nodes may pass the bound by what they insert within that second. At the bound, a claim
 * of a key without a row first deletes expired rows (outside its transaction, so the deletes
 * stand), then counts again; still at the bound, it fails with `LIMIT_EXCEEDED` (retryable).
 * Keys that hold a row still answer.
 */
export class DedupBound {
  private counted: { rows: number; at: number } | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly t: Tables,
    private readonly writes: DedupWrites,
    private readonly maxEntries: number,
  ) {}

  /** Throws `LIMIT_EXCEEDED` when claiming `key` would add a row beyond the bound. */
  async check(key: string, now: number): Promise<void> {
    if ((await this.rows(false)) < this.maxEntries) return;
    const { rowCount } = await this.pool.query(
      this.t.sql.query(`SELECT 1 FROM ${this.t.dedup} WHERE dedup_key = $1`, [textBytes(key)]),
    );
    if (rowCount === 1) return;
    for (let batch = 0; batch < SWEEP_BATCHES_AT_BOUND; batch++) {
      if ((await this.writes.sweepBatch(now)) < SWEEP_BATCH) break;
    }
    if ((await this.rows(true)) < this.maxEntries) return;
    throw this.limitExceeded();
  }

  /**
   * `check` for the keys of a batch, in order: which of them are refused (`LIMIT_EXCEEDED`).
   * Below the bound by at least their number, none, and no query. Nearer, one query finds the
   * keys that have a row (they always pass), expired rows are swept if the others do not fit,
   * and the others are let in, in order, while the fresh count stays below the bound; each
   * new key counts as a row from its first item on (also when its claim is then refused).
   */
  async checkMany(keys: readonly string[], now: number): Promise<(AssuredError | undefined)[]> {
    const distinct = [...new Set(keys)];
    let rows = await this.rows(false);
    if (rows + distinct.length <= this.maxEntries) return keys.map(() => undefined);
    const found = await this.pool.query<{ dedup_key: Buffer }>(
      this.t.sql.query(`SELECT dedup_key FROM ${this.t.dedup} WHERE dedup_key = ANY($1::bytea[])`, [
        distinct.map(textBytes),
      ]),
    );
    const admitted = new Set(found.rows.map((r) => r.dedup_key.toString("utf8")));
    if (rows + distinct.length - admitted.size > this.maxEntries) {
      for (let batch = 0; batch < SWEEP_BATCHES_AT_BOUND; batch++) {
        if ((await this.writes.sweepBatch(now)) < SWEEP_BATCH) break;
      }
      rows = await this.rows(true);
    }
    return keys.map((key) => {
      if (admitted.has(key)) return undefined;
      if (rows >= this.maxEntries) return this.limitExceeded();
      rows++;
      admitted.add(key);
      return undefined;
    });
  }

  /** Counts rows this node inserted (default one), until the next count. */
  inserted(rows = 1): void {
    if (this.counted !== undefined) this.counted.rows += rows;
  }

  private limitExceeded(): AssuredError {
    return new AssuredError(
      "LIMIT_EXCEEDED",
      `the PostgreSQL dedup store holds ${this.maxEntries} unexpired keys (maxEntries); retry ` +
        "later, or raise maxEntries or shorten TTLs.",
      { details: { maxEntries: this.maxEntries } },
    );
  }

  private async rows(fresh: boolean): Promise<number> {
    const counted = this.counted;
    if (!fresh && counted !== undefined && performance.now() - counted.at < COUNT_CACHE_MS) {
      return counted.rows;
    }
    const { rows } = await this.pool.query<{ rows: string }>(
      this.t.sql.query(
        `SELECT count(*) AS rows FROM (SELECT 1 FROM ${this.t.dedup} LIMIT $1) capped`,
        [this.maxEntries],
      ),
    );
    const count = Number(rows[0]!.rows);
    this.counted = { rows: count, at: performance.now() };
    return count;
  }
}
