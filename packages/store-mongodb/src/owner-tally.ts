import { setBounded } from "./bounded-map.js";

/** Every counter document of one owner, by id: claims added to it since it was created. */
export type OwnerCounters = ReadonlyMap<string, number>;

/** What `OwnerTally` reads and writes (the `<prefix>dedup_owners` collection and the entries). */
export interface OwnerTallyBackend {
  /**
   * Sets the counter document `id` of `owner` to `claims` (creating it). Only the instance that
   * created `id` writes it, one write at a time, with growing values.
   */
  write(id: string, owner: string, claims: number): Promise<void>;
  /** Every counter document of `owner`, as `id → claims`. */
  read(owner: string): Promise<OwnerCounters>;
  /** The owner's documents, expired ones not yet deleted included, counted up to `limit`. */
  countAll(owner: string, limit: number): Promise<number>;
  /** The owner's unexpired documents at `now` (store clock), counted up to `limit`. */
  countLive(owner: string, now: number, limit: number): Promise<number>;
}

/** This instance's counter of one owner. */
interface OwnCounter {
  id: string;
  /** Claims added (in memory). */
  claims: number;
  /** Claims the store holds (acknowledged). */
  written: number;
  /** The write in flight. */
  writing: Promise<void> | undefined;
}

/** A baseline: `held` documents of the owner counted after its counters read `counters`. */
interface Baseline {
  counters: OwnerCounters;
  held: number;
  /** When it was taken (monotonic clock, ms). */
  at: number;
}

/** Owners whose counter and baseline one tally keeps (least recently used dropped first). */
export const TALLY_OWNERS = 10_000;

/**
 * How long a baseline is used (monotonic clock): well below how long a counter document is kept
 * after its last write, so none written since a baseline was taken can have been deleted.
 */
export const BASELINE_MAX_AGE_MS = 60 * 60 * 1000;

/**
 * How long an owner whose documents, expired ones included, passed its quota at a count is
 * judged by the exact count alone (no counters read, no baseline tried), until expired
 * documents may have been deleted (monotonic clock, ms).
 */
export const TIGHT_OWNER_MS = 5_000;

/**
 * An upper bound on an owner's unexpired dedup documents without counting them at every claim
 * (a count is a pass over the collection on FerretDB). Each store instance keeps, per owner, a
 * counter document of its own (no other writes it, so no atomic update is needed, which FerretDB
 * lacks) and writes it AFTER a claim's document was acknowledged, with the claims it added. A
 * baseline is the owner's counters read before counting the owner's documents (all of them,
 * expired included: a late `complete` can bring an expired lease back to life) as `X`. Then the
 * owner's unexpired documents are at most `X` plus what every counter grew by since: a document
 * whose counter write was read in the baseline had been written before the count started (so it
 * is in `X`); one written after is in the growth. A counter this instance forgot (least recently
 * used) is replaced by a new one, so a counter never shrinks; counter documents are deleted a
 * day after their last write, and a baseline is used for an hour at most.
 *
 * A claim writes its counter, reads the owner's counters, and checks the bound against its
 * quota; only when the bound passes the quota does it count again: all documents (a new
 * baseline) and, when they are over the quota, the unexpired ones exactly, as the store did at
 * every claim before. Of claims racing for the last places, the one that reads last sees every
 * other's counter write, as the one that counted last saw every other's document. Released,
 * withdrawn, expired and deleted documents stay in the bound until the next count: it errs
 * high, except for a claim whose process died between writing its document and its counter,
 * or whose counter write failed, which no bound holds until its lease ends (the only ways past
 * the quota besides the race the store already documents).
 */
export class OwnerTally {
  private readonly own = new Map<string, OwnCounter>();
  private readonly baselines = new Map<string, Baseline>();
  /** Owners judged by the exact count alone, until when (see `TIGHT_OWNER_MS`). */
  private readonly tight = new Map<string, number>();

  constructor(
    private readonly backend: OwnerTallyBackend,
    private readonly newId: () => string,
    private readonly monotonic: () => number = () => performance.now(),
    private readonly maxOwners = TALLY_OWNERS,
  ) {}

  /**
   * Adds `added` claims (their documents already written) to `owner`'s counter and resolves with
   * its document count for judging them: a bound at most `quota` (every claim fits), or else the
   * exact count of its unexpired documents at `now`, up to `limit`.
   */
  async held(
    owner: string,
    added: number,
    quota: number,
    limit: number,
    now: number,
  ): Promise<number> {
    await this.add(owner, added);
    const tightUntil = this.tight.get(owner);
    if (tightUntil !== undefined) {
      if (this.monotonic() < tightUntil) return this.backend.countLive(owner, now, limit);
      this.tight.delete(owner);
    }
    const counters = await this.backend.read(owner);
    const base = this.baselines.get(owner);
    if (base !== undefined && this.monotonic() - base.at < BASELINE_MAX_AGE_MS) {
      let bound = base.held;
      for (const [id, claims] of counters) bound += claims - (base.counters.get(id) ?? 0);
      if (bound <= quota) return bound;
    }
    const at = this.monotonic();
    const all = await this.backend.countAll(owner, quota + 1);
    if (all <= quota) {
      setBounded(this.baselines, owner, { counters, held: all, at }, this.maxOwners);
      return all;
    }
    this.baselines.delete(owner);
    setBounded(this.tight, owner, this.monotonic() + TIGHT_OWNER_MS, this.maxOwners);
    return this.backend.countLive(owner, now, limit);
  }

  /** Owners with a baseline (for tests). */
  get baselineCount(): number {
    return this.baselines.size;
  }

  /** Adds `added` to this instance's counter of `owner`; resolves once the store holds it. */
  private async add(owner: string, added: number): Promise<void> {
    const counter = this.own.get(owner) ?? {
      id: this.newId(),
      claims: 0,
      written: 0,
      writing: undefined,
    };
    // Most recently used last. Forgetting a counter with a write in flight is safe: its writes
    // go on; it is not reused.
    setBounded(this.own, owner, counter, this.maxOwners);
    counter.claims += added;
    const target = counter.claims;
    while (counter.written < target) {
      if (counter.writing === undefined) {
        const value = counter.claims;
        const own = counter;
        own.writing = this.backend.write(own.id, owner, value).then(
          () => {
            own.written = Math.max(own.written, value);
            own.writing = undefined;
          },
          (error: unknown) => {
            own.writing = undefined;
            // The failed write may still land later, over a newer one: the counter is never
            // written again (its claims are in no bound until their leases end, as when a
            // process dies); the owner's next claim starts a new one.
            if (this.own.get(owner) === own) this.own.delete(owner);
            throw error;
          },
        );
      }
      await counter.writing;
    }
  }
}
