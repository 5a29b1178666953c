import { newId } from "@assured/core";
import type { Binary, Collection } from "mongodb";
import type { DedupDocument } from "./collections.js";
import { isDuplicateKeyError } from "./duplicate-key.js";
import type { LockDocument } from "./retention-sweep.js";

/** How long a transition lock is kept: far longer than a stale read takes to act on. */
const LOCK_KEEP_MS = 60 * 60 * 1_000;

/** The new state a transition writes (a lease, or a stored response). */
export type DedupState = Omit<DedupDocument, "_id">;

/**
 * Moves a dedup key from the state held by one token to the next, atomically: either the move
 * happens and returns true, or another transition from the same token won and it returns
 * false. Every state has a token of its own, so a token can be left only once.
 */
export interface DedupTransitions {
  /** Replaces the state held by `token` (an expired one) with `next`, or deletes it (null). */
  replace(
    key: string,
    token: string,
    from: DedupDocument["st"],
    next: DedupState | null,
  ): Promise<boolean>;
  /** Stores the response, if `token` still holds the lease. */
  complete(
    key: string,
    token: string,
    response: { ok: boolean; r: Binary; ex: number; u: number; x: Date },
  ): Promise<boolean>;
  /** Deletes the key, if `token` still holds the lease. */
  release(key: string, token: string): Promise<boolean>;
}

/** MongoDB: a filtered update or delete is a compare-and-set on the token. */
export function atomicTransitions(dedup: Collection<DedupDocument>): DedupTransitions {
  return {
    async replace(key, token, from, next) {
      const filter = { _id: key, tok: token, st: from };
      if (next === null) return (await dedup.deleteOne(filter)).deletedCount === 1;
      return (await dedup.replaceOne(filter, next)).matchedCount === 1;
    },
    async complete(key, token, response) {
      const result = await dedup.updateOne(
        { _id: key, tok: token, st: "lease" },
        { $set: { st: "done", ...response, tok: newId() } },
      );
      return result.matchedCount === 1;
    },
    async release(key, token) {
      const result = await dedup.deleteOne({ _id: key, tok: token, st: "lease" });
      return result.deletedCount === 1;
    },
  };
}

/**
 * FerretDB: updates are not compare-and-set, so leaving a token first inserts the lock document
 * `token:<length>:<token>:<key>`; the unique `_id` lets exactly one transition per (key, token)
 * proceed, and the winner then writes alone.
 */
export function lockedTransitions(
  dedup: Collection<DedupDocument>,
  locks: Collection<LockDocument>,
): DedupTransitions {
  const lock = async (key: string, token: string): Promise<boolean> => {
    // Length-prefixed, so no (token, key) pair can spell another's lock.
    const _id = `token:${token.length}:${token}:${key}`;
    try {
      await locks.insertOne({ _id, x: new Date(Date.now() + LOCK_KEEP_MS) });
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  };
  const holds = async (key: string, token: string, state: DedupDocument["st"]) => {
    const doc = await dedup.findOne({ _id: key });
    return doc !== null && doc.tok === token && doc.st === state;
  };
  return {
    async replace(key, token, from, next) {
      if (!(await lock(key, token)) || !(await holds(key, token, from))) return false;
      if (next === null) await dedup.deleteOne({ _id: key });
      else await dedup.replaceOne({ _id: key }, next);
      return true;
    },
    async complete(key, token, response) {
      if (!(await lock(key, token)) || !(await holds(key, token, "lease"))) return false;
      await dedup.updateOne({ _id: key }, { $set: { st: "done", ...response, tok: newId() } });
      return true;
    },
    async release(key, token) {
      if (!(await lock(key, token)) || !(await holds(key, token, "lease"))) return false;
      await dedup.deleteOne({ _id: key });
      return true;
    },
  };
}
