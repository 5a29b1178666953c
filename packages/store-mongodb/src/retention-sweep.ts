import type { Collection } from "mongodb";
import type { EventDocument, StreamDocument } from "./documents.js";
import { isDuplicateKeyError } from "./duplicate-key.js";
import type { LogAccess } from "./log-access.js";
import type { StreamMeta } from "./stream-meta.js";

/** Most expired events, or streams, one sweep handles. */
const SWEEP_BATCH = 10_000;
const DELETE_BATCH = 1_000;

/** A lock document: its `_id` names what it guards; `x` is when it may be deleted. */
export interface LockDocument {
  _id: string;
  x: Date;
  /** When a dedup transition lock was taken (store clock, ms); see `lockedTransitions`. */
  t?: number;
}

/**
 * Deletes events older than `cutoff` (store clock) where the server has no TTL index. Before
 * deleting, each stream's trimmed-through mark and head floor are raised past the deleted
 * offsets, so a log whose every event expired keeps its head. Returns how many were deleted.
 */
export async function sweepExpiredEvents(
  events: Collection<EventDocument>,
  meta: StreamMeta,
  cutoff: number,
): Promise<number> {
  const expired = await events
    .find({ t: { $lt: cutoff } }, { projection: { s: 1, e: 1, o: 1 } })
    .limit(SWEEP_BATCH)
    .toArray();
  const newest = new Map<string, { stream: string; offset: number }>();
  for (const doc of expired) {
    const known = newest.get(doc.e);
    if (known === undefined || known.offset < doc.o)
      newest.set(doc.e, { stream: doc.s, offset: doc.o });
  }
  for (const [epoch, { stream, offset }] of newest) {
    await meta.raise(stream, epoch, { f: offset, h: offset });
  }
  for (let at = 0; at < expired.length; at += DELETE_BATCH) {
    const operations = expired
      .slice(at, at + DELETE_BATCH)
      .map((doc) => ({ deleteOne: { filter: { _id: doc._id } } }));
    await events.bulkWrite(operations, { ordered: false });
  }
  return expired.length;
}

/**
 * Deletes the events beyond `maxLength` of every stream (on servers where appenders leave
 * trimming to the sweep). Marks are raised before deleting. Returns how many were deleted.
 */
export async function sweepOverLength(
  streams: Collection<StreamDocument>,
  access: LogAccess,
  meta: StreamMeta,
  maxLength: number,
): Promise<number> {
  let deleted = 0;
  const docs = await streams.find().limit(SWEEP_BATCH).toArray();
  for (const doc of docs) {
    const head = await access.findHead(doc.e, Math.max(doc.h, doc.f));
    const trimTo = head - maxLength;
    if (trimTo <= doc.f) continue;
    await meta.raise(doc._id, doc.e, { f: trimTo, h: trimTo });
    await access.deleteRange(doc.e, doc.f + 1, trimTo);
    deleted += trimTo - doc.f;
  }
  return deleted;
}

/**
 * Elects one sweeper per time window across every instance and process: the one whose insert
 * of the window's lock document succeeds (unique `_id`). Deletes the lock of two windows ago.
 */
export async function electSweeper(
  locks: Collection<LockDocument>,
  name: string,
  intervalMs: number,
): Promise<boolean> {
  const window = Math.floor(Date.now() / intervalMs);
  try {
    await locks.insertOne({
      _id: `${name}:${intervalMs}:${window}`,
      x: new Date(Date.now() + 2 * intervalMs),
    });
  } catch (error) {
    if (isDuplicateKeyError(error)) return false;
    throw error;
  }
  await locks.deleteOne({ _id: `${name}:${intervalMs}:${window - 2}` });
  return true;
}

/**
 * Runs `sweep` every `intervalMs` (unref'd, never overlapping); failures are retried at the
 * next tick. Returns a function that stops it.
 */
export function scheduleSweep(intervalMs: number, sweep: () => Promise<unknown>): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweep()
      .catch(() => undefined)
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
