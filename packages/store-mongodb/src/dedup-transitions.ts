import { AssuredError } from "@assured/core";
import { type Clock, newId } from "@assured/core/store";
import createDebug from "debug";
import type { Binary, Collection, UpdateResult } from "mongodb";
import type { DedupDocument } from "./collections.js";
import { documentsById } from "./documents-by-id.js";
import { duplicateIndexes, isDuplicateKeyError } from "./duplicate-key.js";
import type { LockDocument } from "./retention-sweep.js";

/** `DEBUG=assured:store:mongodb`: the lock protocol's slow paths (FerretDB). */
const log = createDebug("assured:store:mongodb");

/** How long a transition lock is kept: far longer than a stale read takes to act on. */
const LOCK_KEEP_MS = 60 * 60 * 1_000;

/**
 * How long a transition lock stands before another transition out of the same state may break
 * it (store clock, ms): its holder is presumed dead, as a lease's holder is after `leaseMs`. A
 * live holder needs two round trips (a read, then its write) after taking the lock.
 */
const LOCK_STALE_MS = 5_000;

/**
 * How long after starting to take its lock a transition may still write (monotonic clock, ms):
 * half of `LOCK_STALE_MS`, so the write of a holder slowed down (a store restarting, a busy
 * server) lands before its lock can look stale; later it gives the transition up instead.
 */
const LOCK_WRITE_BUDGET_MS = LOCK_STALE_MS / 2;

/** Most times the lock of one state can be broken (each break needs the last lock stale). */
const MAX_LOCK_GENERATIONS = 16;

/**
 * How long a transition waits for another one holding the lock of the state it moves out of
 * (monotonic clock, ms): that one writes within `LOCK_WRITE_BUDGET_MS` or its lock goes stale
 * (`LOCK_STALE_MS`).
 */
export const LOCK_WAIT_MS = LOCK_STALE_MS + LOCK_WRITE_BUDGET_MS;

/**
 * The pauses of a transition waiting for a locked state: 5 ms, doubling up to 100 ms, for
 * `LOCK_WAIT_MS` from its creation.
 */
export class LockWait {
  readonly #startedAt = performance.now();
  #pause = 5;

  /** True once `LOCK_WAIT_MS` passed. */
  get over(): boolean {
    return performance.now() - this.#startedAt >= LOCK_WAIT_MS;
  }

  /** Resolves after the next pause. */
  pause(): Promise<void> {
    const ms = this.#pause;
    this.#pause = Math.min(ms * 2, 100);
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}

/** The new state a transition writes (a lease, or a stored response). */
export type DedupState = Omit<DedupDocument, "_id">;

/** A stored response: ok flag, payload, expiry (store clock; also `u`) and the TTL index's date. */
export interface StoredState {
  ok: boolean;
  r: Binary;
  ex: number;
  u: number;
  x: Date;
}

/** One item of `DedupTransitions.completeMany`. */
export interface CompleteItem {
  key: string;
  holder: string;
  response: StoredState;
}

/** Most updates in one `bulkWrite`: FerretDB (1.24) never answers a bulk of 100 or more. */
const UPDATE_BATCH = 50;

/** A renewed lease: its end (store clock), the same as `u`, and the TTL index's date. */
export interface RenewedLease {
  le: number;
  u: number;
  x: Date;
}

/**
 * A released lease: ended (`le` and `u` 0) and held by no token, so the key is free at once;
 * the document stays until the sweep or the TTL index deletes it, and keeps the fencing token.
 */
const RELEASED = { le: 0, u: 0 } as const;

/**
 * Moves a dedup key from the state held by one token to the next, atomically: either the move
 * happens and returns true, or another transition from the same token won and it returns
 * false. Every state has a token of its own, so a token can be left only once.
 *
 * `replace` takes the state's token (`tok`, read from the document); `complete`, `release`
 * and `renew` take the holder's (the claim's token; `h ?? tok` of a leased document).
 */
export interface DedupTransitions {
  /** Replaces the state `token` (an expired one) with `next`, or deletes it (null). */
  replace(
    key: string,
    token: string,
    from: DedupDocument["st"],
    next: DedupState | null,
  ): Promise<boolean>;
  /** Stores the response, if `holder` still holds the lease. */
  complete(key: string, holder: string, response: StoredState): Promise<boolean>;
  /**
   * `complete` for each item (distinct keys), answered in order: what `complete` would have
   * answered for each.
   */
  completeMany(items: readonly CompleteItem[]): Promise<boolean[]>;
  /** Frees the key (the document stays, released), if `holder` still holds the lease. */
  release(key: string, holder: string): Promise<boolean>;
  /** Moves the lease's end, if `holder` still holds it and it has not ended by `now`. */
  renew(key: string, holder: string, lease: RenewedLease, now: number): Promise<boolean>;
}

/** The token of a leased document's holder. */
function holderOf(doc: DedupDocument): string {
  return doc.h ?? doc.tok;
}

/** MongoDB: a filtered update or delete is a compare-and-set on the token. */
export function atomicTransitions(dedup: Collection<DedupDocument>): DedupTransitions {
  const complete = async (key: string, token: string, response: StoredState) => {
    const result = await dedup.updateOne(
      { _id: key, tok: token, st: "lease" },
      { $set: { st: "done", ...response, tok: newId() } },
    );
    return result.matchedCount === 1;
  };
  return {
    async replace(key, token, from, next) {
      const filter = { _id: key, tok: token, st: from };
      if (next === null) return (await dedup.deleteOne(filter)).deletedCount === 1;
      return (await dedup.replaceOne(filter, next)).matchedCount === 1;
    },
    complete,
    completeMany(items) {
      // Distinct keys: each compare-and-set is independent of the others, so they run at once.
      return Promise.all(items.map((item) => complete(item.key, item.holder, item.response)));
    },
    async release(key, token) {
      const result = await dedup.updateOne(
        { _id: key, tok: token, st: "lease" },
        { $set: { ...RELEASED, tok: newId() } },
      );
      return result.matchedCount === 1;
    },
    async renew(key, token, lease, now) {
      // The token stays: a filtered update is the compare-and-set, nothing needs a new state.
      const result = await dedup.updateOne(
        { _id: key, tok: token, st: "lease", le: { $gt: now } },
        { $set: lease },
      );
      return result.matchedCount === 1;
    },
  };
}

/**
 * FerretDB: updates are not compare-and-set, so leaving a token first inserts a lock document
 * (`lockId`); the unique `_id` lets exactly one transition per (key, token) proceed, and the
 * winner then writes alone.
 *
 * A winner that dies between its lock and its write (a SIGKILL mid-`complete`) must not wedge
 * the key: every later transition out of that state would find the lock taken, so an expired
 * lease could never be taken over (G9) and its message never run again. So a lock older than
 * `LOCK_STALE_MS` (store clock) is broken by inserting the state's next lock generation: the
 * unique `_id` again lets exactly one breaker proceed. A live holder writes only within
 * `LOCK_WRITE_BUDGET_MS` of starting to take its lock; only a write delayed in flight for longer
 * than the rest (as a lease's holder stalled past its lease) could land after a breaker's.
 *
 * A renewal is a transition too: it leaves the lease's state token for a new one (keeping the
 * holder's token in `h`), so the holder's later complete, release or renewal takes a lock of
 * its own. Complete, release and renew find the state token of the holder's lease first, then
 * lock and move it like any other transition; a renewal of a lease that has already ended
 * takes no lock (it would hold a takeover back until the lock goes stale). A holder's
 * transitions may overlap (its renewal still in flight when its complete starts): one that
 * finds the lock taken while the holder still holds the lease waits for the other and tries
 * the new state token (`asHolder`), so a holder's complete is never refused by its own renewal.
 */
export function lockedTransitions(
  dedup: Collection<DedupDocument>,
  locks: Collection<LockDocument>,
  clock: Clock,
  /** Read several documents by one point lookup each (FerretDB; see `documentsById`). */
  pointLookups = true,
): DedupTransitions {
  /** Takes the lock of the state `token` of `key`; false when another transition holds it. */
  const lock = async (key: string, token: string): Promise<boolean> => {
    for (let generation = 0; generation < MAX_LOCK_GENERATIONS; generation++) {
      const _id = lockId(key, token, generation);
      const now = clock();
      try {
        await locks.insertOne({ _id, t: now, x: new Date(Date.now() + LOCK_KEEP_MS) });
        return true;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
      // Gone since (only the hourly cleanup deletes locks): it was stale as well.
      const held = await locks.findOne({ _id });
      if (held !== null && !isStale(held, now)) return false;
      log("breaking the stale lock %s (generation %d)", _id, generation);
    }
    log("the state %s of %s was locked %d times: left as it is", token, key, MAX_LOCK_GENERATIONS);
    return false;
  };
  const holds = async (key: string, token: string, state: DedupDocument["st"]) => {
    const doc = await dedup.findOne({ _id: key });
    return doc !== null && doc.tok === token && doc.st === state;
  };
  /** Whether this caller may write the move out of `token` (`from`): locked, held, in time. */
  const enter = async (key: string, token: string, from: DedupDocument["st"]) => {
    const startedAt = performance.now();
    if (!(await lock(key, token)) || !(await holds(key, token, from))) return false;
    const took = performance.now() - startedAt;
    if (took < LOCK_WRITE_BUDGET_MS) return true;
    // Its lock stays until it goes stale. (Marking it stale at once was tried: under a store
    // slow enough for this, every retry ran past the budget too, each left one more lock
    // generation for the next to step over, and a chaos run answered fewer messages.)
    log(
      "locking %s out of %s took %d ms: not written (budget %d ms)",
      key,
      from,
      took,
      LOCK_WRITE_BUDGET_MS,
    );
    return false;
  };
  /** The lease `holder` holds (to move it out of its state token), or undefined. */
  const leaseOf = async (key: string, holder: string) => {
    const doc = await dedup.findOne({ _id: key });
    return doc !== null && doc.st === "lease" && holderOf(doc) === holder ? doc : undefined;
  };
  /**
   * Moves the lease `holder` holds out of its state with `write`; false once the holder no longer
   * holds it (or `usable` refuses it). The holder's own transitions may overlap: a renewal still
   * in flight when the handler's complete or release starts holds the lock of the lease's state,
   * then moves it to a new state token. That is waited for (read again after a short pause, for
   * at most `LOCK_WAIT_MS`) instead of answering false while the holder still holds the key: a
   * complete refused so would leave the response unstored and let the message run again.
   */
  const asHolder = async (
    key: string,
    holder: string,
    write: (filter: LeaseFilter) => Promise<UpdateResult>,
    usable: (doc: DedupDocument) => boolean = () => true,
  ): Promise<boolean> => {
    const wait = new LockWait();
    for (;;) {
      const doc = await leaseOf(key, holder);
      if (doc === undefined || !usable(doc)) return false;
      if (await enter(key, doc.tok, "lease")) {
        return (await write(leaseFilter(key, doc.tok))).matchedCount === 1;
      }
      // Still the holder's, but its state stayed locked: not "no longer held" (false would make
      // a renewal give the lease up, a complete leave the response unstored for good), but a
      // store too slow to answer, as any failure of the call.
      if (wait.over) {
        log("the lease of %s stayed locked for %d ms", key, LOCK_WAIT_MS);
        throw new AssuredError(
          "STORE_UNAVAILABLE",
          `the dedup key's lease stayed locked by another transition for ${LOCK_WAIT_MS} ms; retry later.`,
        );
      }
      await wait.pause();
    }
  };
  // A response is written by `_id` alone (see `leaseFilter`: a filter on other fields costs
  // FerretDB a pass over the collection, and one complete per message pays it most).
  const complete = (key: string, holder: string, response: StoredState) =>
    asHolder(key, holder, () =>
      dedup.updateOne(
        { _id: key },
        { $set: { st: "done", ...response, tok: newId() }, $unset: { h: "" } },
      ),
    );
  /** The documents of `keys`, by key. */
  const documentsOf = (keys: readonly string[]) => documentsById(dedup, keys, pointLookups);
  return {
    async replace(key, token, from, next) {
      if (!(await enter(key, token, from))) return false;
      // By `_id` alone (see `leaseFilter`): the sweeps replace expired documents by the hundred.
      if (next === null) await dedup.deleteOne({ _id: key });
      else await dedup.replaceOne({ _id: key }, next);
      return true;
    },
    complete,
    /**
     * `complete`'s steps, each done for all items at once: read the leases, insert their locks
     * (generation 0, one unordered insert), read them again, write the responses. An item whose
     * lock is taken goes the single way (which may break a stale lock), alone.
     */
    async completeMany(items) {
      const answers = items.map(() => false);
      const leases = await documentsOf(items.map((item) => item.key));
      const held = items.flatMap((item, i) => {
        const doc = leases.get(item.key);
        return doc !== undefined && doc.st === "lease" && holderOf(doc) === item.holder
          ? [{ i, item, token: doc.tok }]
          : [];
      });
      if (held.length === 0) return answers;
      const startedAt = performance.now();
      const now = clock();
      const locked = new Set(held.map((_, n) => n));
      try {
        await locks.insertMany(
          held.map(({ item, token }) => ({
            _id: lockId(item.key, token, 0),
            t: now,
            x: new Date(Date.now() + LOCK_KEEP_MS),
          })),
          { ordered: false },
        );
      } catch (error) {
        const taken = duplicateIndexes(error);
        if (taken === undefined) throw error;
        for (const n of taken) locked.delete(n);
      }
      const mine = held.filter((_, n) => locked.has(n));
      const current =
        mine.length === 0 ? new Map() : await documentsOf(mine.map((h) => h.item.key));
      const inTime = performance.now() - startedAt < LOCK_WRITE_BUDGET_MS;
      const writes = mine.filter(({ item, token }) => {
        const doc = current.get(item.key);
        return inTime && doc !== undefined && doc.tok === token && doc.st === "lease";
      });
      for (let start = 0; start < writes.length; start += UPDATE_BATCH) {
        await dedup.bulkWrite(
          writes.slice(start, start + UPDATE_BATCH).map(({ item }) => ({
            updateOne: {
              filter: { _id: item.key },
              update: { $set: { st: "done", ...item.response, tok: newId() }, $unset: { h: "" } },
            },
          })),
          { ordered: false },
        );
      }
      for (const { i } of writes) answers[i] = true;
      // A lock another transition holds (it may be stale), a lease its holder's renewal moved to
      // a new state token since it was read, or an item locked here too late to write with
      // (`inTime` false; the single way waits for that lock to go stale): as `complete` alone
      // would. Left unstored, its message would run again.
      const written = new Set(writes.map(({ i }) => i));
      await Promise.all(
        held
          .filter(({ i }) => !written.has(i))
          .map(async ({ i, item }) => {
            answers[i] = await complete(item.key, item.holder, item.response);
          }),
      );
      return answers;
    },
    release: (key, holder) =>
      asHolder(key, holder, (filter) =>
        dedup.updateOne(filter, { $set: { ...RELEASED, tok: newId() }, $unset: { h: "" } }),
      ),
    // A renewal of a lease that has already ended takes no lock (it would hold a takeover back
    // until the lock goes stale).
    renew: (key, holder, lease, now) =>
      asHolder(
        key,
        holder,
        (filter) => dedup.updateOne(filter, { $set: { ...lease, tok: newId(), h: holder } }),
        (doc) => doc.le > Math.max(now, clock()),
      ),
  };
}

/** The filter of a write out of the lease state `token` of `key`. */
type LeaseFilter = { _id: string; tok: string; st: "lease" };

/**
 * The filter of a holder's renewal or release out of its locked lease: the lock makes the
 * writer the only one, and the filter makes a write that lands late (held up in flight past the
 * lock's staleness, as a driver's retry across a store restart can be, while a breaker moved the
 * state on) change nothing. Unfiltered, a late renewal moved a stored response's end (`u`) to
 * the lease's, and the sweep then deleted it, so the message ran again; it could also hand a
 * newer holder's lease back to the old one, and a late release free it. (FerretDB applies the
 * filter and the update in two steps, so this narrows the race to its own internal gap; the
 * lock is what excludes live writers.) Responses (`complete`, `completeMany`) and takeovers and
 * deletions of expired states (`replace`, which the sweeps call by the hundred) are written by
 * `_id` alone: any filter beyond `_id` costs FerretDB a pass over the collection (3.6 against
 * 1.7 ms per update with 3,000 documents on the test server). Such a write landing that late
 * after its lock was broken can still replace what the breaker wrote.
 */
function leaseFilter(key: string, token: string): LeaseFilter {
  return { _id: key, tok: token, st: "lease" };
}

/**
 * The lock of generation `generation` of the state `token` of `key`. Length-prefixed, so no
 * (token, key) pair can spell another's lock; generation 0 keeps the first version's form.
 */
function lockId(key: string, token: string, generation: number): string {
  const state = `${token.length}:${token}:${key}`;
  return generation === 0 ? `token:${state}` : `token#${generation}:${state}`;
}

/** Whether a lock was taken `LOCK_STALE_MS` or longer ago (locks without `t` date from `x`). */
function isStale(lock: LockDocument, now: number): boolean {
  const takenAt = lock.t ?? lock.x.getTime() - LOCK_KEEP_MS;
  return now - takenAt >= LOCK_STALE_MS;
}
