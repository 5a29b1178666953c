import { AssuredError } from "@assured/core";

/** How long a document count far from the bound is trusted at least (monotonic clock, ms). */
export const BOUND_REFRESH_MS = 1_000;

/**
 * A count far from the bound is trusted for this many times as long as it took, when that is
 * longer than `BOUND_REFRESH_MS`: a server that counts by a pass over the collection (FerretDB,
 * 0.3 s at 100,000 documents) then spends at most a tenth of its time counting.
 */
export const BOUND_REFRESH_FACTOR = 10;

/** The longest a count far from the bound is trusted, however long it took (ms). */
export const BOUND_REFRESH_MAX_MS = 30_000;

/** Counts and deletes the dedup documents for `DedupBound`. */
export interface DedupBoundBackend {
  /** The number of documents, expired ones not yet deleted included (`estimatedDocumentCount`). */
  count(): Promise<number>;
  /** Deletes documents whose state ended at or before `now` (store clock). */
  deleteExpired(now: number): Promise<void>;
}

/**
 * `maxEntries` of `MongoDedupStore`: whether a claim may insert a new document. The count is
 * `estimatedDocumentCount` (collection metadata on MongoDB: no scan). Below half the bound it
 * is kept for up to `BOUND_REFRESH_MS`, plus the documents this instance inserted since, while
 * that sum stays below half the bound; from half the bound on, every claim of a new key counts
 * again; at the bound it first deletes the expired documents (store clock) and counts once
 * more. Concurrent claims of one instance share one count in flight.
 *
 * Nothing serializes the count with the insert, so the bound is approximate:
 * - claims racing near the bound (on any instances) may each see room and insert, passing it by
 *   at most their number (at most one document per concurrent claimer);
 * - a cached count lets an instance insert only while it believes the collection below half
 *   the bound, and is under a second old (or `BOUND_REFRESH_FACTOR` times as old as the count
 *   took, when longer, up to 30 s): the true count then is below half the bound plus what other instances
 *   inserted meanwhile, so the cache passes the bound only when more than `maxEntries / 2` new
 *   keys arrive within that time.
 * Once it has been passed, new keys are refused until expired documents bring it back below.
 */
export class DedupBound {
  private counted: number | undefined;
  private countedAt = Number.NEGATIVE_INFINITY;
  /** How long the count is trusted (`BOUND_REFRESH_MS`, or longer after a slow count). */
  private trustedFor = BOUND_REFRESH_MS;
  private insertedSince = 0;
  private counting: Promise<number> | undefined;

  constructor(
    private readonly maxEntries: number,
    private readonly backend: DedupBoundBackend,
    /** Measures the cached count's age: monotonic, so a wall-clock step cannot keep it fresh. */
    private readonly wallClock: () => number = () => performance.now(),
  ) {}

  /** Whether a new document fits (reads the cached count when far from the bound). */
  async hasRoom(now: number): Promise<boolean> {
    if (
      this.counted !== undefined &&
      this.wallClock() - this.countedAt < this.trustedFor &&
      this.counted + this.insertedSince < this.maxEntries / 2
    ) {
      return true;
    }
    this.counting ??= this.count(now).finally(() => {
      this.counting = undefined;
    });
    return (await this.counting) < this.maxEntries;
  }

  /** Notes a document this instance inserted. */
  inserted(): void {
    this.insertedSince++;
  }

  /** The refusal of a claim of a new key. */
  limitError(): AssuredError {
    return new AssuredError(
      "LIMIT_EXCEEDED",
      `the MongoDB dedup store holds ${this.maxEntries} documents (maxEntries); ` +
        "retry later, or raise maxEntries or shorten TTLs.",
    );
  }

  private async count(now: number): Promise<number> {
    const startedAt = this.wallClock();
    let count = await this.backend.count();
    if (count >= this.maxEntries) {
      await this.backend.deleteExpired(now);
      count = await this.backend.count();
    }
    this.counted = count;
    this.countedAt = startedAt;
    this.trustedFor = Math.min(
      BOUND_REFRESH_MAX_MS,
      Math.max(BOUND_REFRESH_MS, BOUND_REFRESH_FACTOR * (this.wallClock() - startedAt)),
    );
    this.insertedSince = 0;
    return count;
  }
}
