import { AssuredError } from "@assured/core";
import {
  type AppendEntry,
  type AppendResult,
  type Clock,
  newId,
  type Retention,
} from "@assured/core/store";
import type { Collection } from "mongodb";
import { type EventDocument, eventKey, type StreamDocument } from "./documents.js";
import { toBinary } from "./driver.js";
import { type InsertConflict, insertConflictOf } from "./duplicate-key.js";
import type { HeadCache } from "./head-cache.js";
import type { LogAccess } from "./log-access.js";
import type { LogStateReader } from "./log-state.js";
import type { StreamMeta } from "./stream-meta.js";

/** Rounds of "insert at head + 1, lost the race, find the new head" before giving up. */
const MAX_ROUNDS = 1_000;
/**
 * Most id renames in one `bulkWrite` (see `takeDuplicates`): FerretDB (1.24) never answers a
 * bulk of 100 or more updates that match documents.
 */
const RENAME_BATCH = 50;

interface Pending {
  index: number;
  id: string;
  entry: AppendEntry;
}

/** What an appender needs; all handles use read concern "local" so it sees the newest head. */
export interface AppendContext {
  events: Collection<EventDocument>;
  meta: StreamMeta;
  access: LogAccess;
  state: LogStateReader;
  heads: HeadCache;
  retention: Retention;
  clock: Clock;
  /**
   * The server's conditional updates are atomic. Without them (FerretDB) appenders never write
   * the stream document nor delete events: the elected sweep alone trims, so the marks have a
   * single writer.
   */
  atomicUpdates: boolean;
  /** Most entries inserted at once (`ServerProfile.orderedInsertLimit`). */
  orderedInsertLimit: number;
}

/**
 * Appends one batch to a stream, gaplessly, without transactions: read the epoch, insert the
 * entries at head + 1, head + 2… with an ordered `insertMany`; the unique index on
 * (stream, epoch, offset) makes a racing appender fail, re-read the head and try again. An
 * offset can only be written once the one before it exists, which gives prefix visibility.
 * A duplicate-key error on (stream, epoch, id) marks an idempotent re-append.
 */
export async function appendBatch(
  context: AppendContext,
  stream: string,
  entries: readonly AppendEntry[],
): Promise<AppendResult[]> {
  const { maxLength, maxAgeMs } = context.retention;
  const known = context.heads.latest(stream);
  if (known !== undefined && maxLength === undefined && maxAgeMs === undefined) {
    // Nothing is ever trimmed, so the remembered epoch and head suffice to insert at once; the
    // stream document is read at the same time to confirm the epoch (a reset may have come).
    const provisional: StreamDocument = { _id: stream, e: known.epoch, h: 0, f: 0 };
    const [current, written] = await Promise.all([
      context.meta.load(stream),
      writeBatch(context, provisional, known.head, entries),
    ]);
    if (current !== null && current.e === known.epoch) return written;
    // Reset meanwhile: what was written belongs to the old epoch; append to the new one.
    const orphans = written.filter((r) => !r.duplicate).map((r) => eventKey(r.epoch, r.offset));
    await context.events.deleteMany({ _id: { $in: orphans } });
    context.heads.forget(stream);
  }
  const meta = await context.meta.ensure(stream);
  // With a remembered head at or above the floor, try head + 1 at once: the insert itself tells
  // whether another appender got there first. Otherwise find the head.
  const cached = context.heads.peek(stream, meta.e);
  const head = cached !== undefined && cached >= meta.h ? cached : await context.state.head(meta);
  return writeBatch(context, meta, head, entries);
}

/** Writes `entries` to `meta`'s epoch trying `head + 1` first; see `appendBatch`. */
async function writeBatch(
  context: AppendContext,
  meta: StreamDocument,
  startHead: number,
  entries: readonly AppendEntry[],
): Promise<AppendResult[]> {
  const stream = meta._id;
  const epoch = meta.e;
  const time = context.clock();
  const results: (AppendResult | undefined)[] = new Array(entries.length);
  const firstOfId = new Map<string, number>();
  const repeats: { at: number; first: number; id: string }[] = [];
  let pending: Pending[] = [];
  entries.forEach((entry, index) => {
    const id = entry.id ?? newId();
    const first = firstOfId.get(id);
    if (first === undefined) {
      firstOfId.set(id, index);
      pending.push({ index, id, entry });
    } else {
      repeats.push({ at: index, first, id });
    }
  });

  let head = startHead;
  for (let pass = 1; ; pass++) {
    const placed: Pending[] = [];
    head = await insertAll(context, meta, head, pending, placed, results, time);
    // A trim running meanwhile may have freed the slots we wrote: trimmers raise `f` first.
    const misplaced = await trimmedUnder(context, stream, epoch, placed, results);
    if (misplaced === undefined) break;
    if (pass >= MAX_ROUNDS) throw lostRaces();
    await context.events.deleteMany({
      _id: { $in: misplaced.entries.map((p) => eventKey(epoch, results[p.index]!.offset)) },
    });
    for (const p of misplaced.entries) results[p.index] = undefined;
    pending = misplaced.entries;
    head = await context.access.findHead(epoch, misplaced.floor);
  }
  for (const repeat of repeats) {
    const original = results[repeat.first]!;
    results[repeat.at] = { offset: original.offset, id: repeat.id, duplicate: true, epoch };
  }
  context.heads.set(stream, epoch, head);
  await applyRetention(context, meta, head);
  return results as AppendResult[];
}

/** Inserts `pending` from `head + 1` until every entry is written or found duplicate. */
async function insertAll(
  context: AppendContext,
  meta: StreamDocument,
  startHead: number,
  entries: Pending[],
  placed: Pending[],
  results: (AppendResult | undefined)[],
  time: number,
): Promise<number> {
  const epoch = meta.e;
  let head = startHead;
  let pending = entries;
  for (let conflicts = 0; pending.length > 0; ) {
    // Past the server's limit an ordered insert may go on after a failed document, writing
    // entries at offsets this loop is about to move them from.
    const batch = pending.slice(0, context.orderedInsertLimit);
    const docs = batch.map((p, k) => toDocument(context, meta._id, epoch, head + 1 + k, p, time));
    try {
      await context.events.insertMany(docs, { ordered: true });
      settle(results, batch, head, epoch);
      placed.push(...batch);
      head += batch.length;
      pending = pending.slice(batch.length);
    } catch (error) {
      const conflict = insertConflictOf(error);
      if (conflict === undefined) throw error;
      if (++conflicts > MAX_ROUNDS) throw lostRaces();
      const written = pending.slice(0, conflict.index);
      settle(results, written, head, epoch);
      placed.push(...written);
      head += written.length;
      pending = pending.slice(conflict.index);
      if (await isOffsetConflict(context, epoch, head + 1, pending[0]!.id, conflict)) {
        head = await context.access.findHead(epoch, head + 1);
      } else {
        pending = await takeDuplicates(context, meta, head, pending, results);
      }
    }
  }
  return head;
}

function lostRaces(): AssuredError {
  return new AssuredError(
    "STORE_UNAVAILABLE",
    `append to a stream lost the race for offsets ${MAX_ROUNDS} times; retry later.`,
  );
}

/**
 * The entries written into slots a concurrent trim had already freed: at or under the
 * trimmed-through mark `f` (trimmers raise it before deleting) and still present (an entry
 * trimmed after it was written is gone). Returns them with the floor to find the head from;
 * undefined when none — always without retention, where nothing is ever trimmed.
 */
async function trimmedUnder(
  context: AppendContext,
  stream: string,
  epoch: string,
  placed: Pending[],
  results: (AppendResult | undefined)[],
): Promise<{ entries: Pending[]; floor: number } | undefined> {
  const { maxLength, maxAgeMs } = context.retention;
  if (placed.length === 0 || (maxLength === undefined && maxAgeMs === undefined)) return undefined;
  const now = await context.meta.load(stream);
  if (now === null || now.e !== epoch) return undefined;
  const under = placed.filter((p) => results[p.index]!.offset <= now.f);
  if (under.length === 0) return undefined;
  const present = await context.events
    .find(
      { _id: { $in: under.map((p) => eventKey(epoch, results[p.index]!.offset)) } },
      { projection: { i: 1 } },
    )
    .toArray();
  const presentIds = new Set(present.map((doc) => doc.i));
  const entries = under.filter((p) => presentIds.has(p.id));
  return entries.length === 0 ? undefined : { entries, floor: Math.max(now.h, now.f) };
}

function toDocument(
  context: AppendContext,
  stream: string,
  epoch: string,
  offset: number,
  pending: Pending,
  time: number,
): EventDocument {
  const doc: EventDocument = {
    _id: eventKey(epoch, offset),
    s: stream,
    e: epoch,
    o: offset,
    i: pending.id,
    n: pending.entry.name,
    p: toBinary(pending.entry.payload),
    t: time,
  };
  // Physical expiry for a TTL index: the same age, in wall-clock time.
  if (context.retention.maxAgeMs !== undefined) {
    doc.x = new Date(Date.now() + context.retention.maxAgeMs);
  }
  return doc;
}

function settle(
  results: (AppendResult | undefined)[],
  written: Pending[],
  head: number,
  epoch: string,
): void {
  written.forEach((p, k) => {
    results[p.index] = { offset: head + 1 + k, id: p.id, duplicate: false, epoch };
  });
}

/**
 * Whether the insert at `offset` failed because the offset was taken (else: the id exists).
 * MongoDB names the index; FerretDB does not, so look at who holds the offset.
 */
async function isOffsetConflict(
  context: AppendContext,
  epoch: string,
  offset: number,
  id: string,
  conflict: InsertConflict,
): Promise<boolean> {
  if (conflict.keyFields !== undefined) return !conflict.keyFields.includes("i");
  const holder = await context.access.lookup(epoch, offset);
  return holder !== null && holder.i !== id;
}

/** A unique placeholder id for a trimmed event whose id was freed (no publisher id can match it). */
function trimmedIdMark(): string {
  return `\u0000trimmed\u0000${newId()}`;
}

/**
 * Resolves the pending entries whose ids the stream already holds: a retained one is a
 * duplicate (original offset); one the retention already dropped (but not yet deleted) is
 * deleted — on servers without atomic updates its id is renamed instead — so the id can be
 * appended anew. Returns the entries still to insert.
 */
async function takeDuplicates(
  context: AppendContext,
  meta: StreamDocument,
  head: number,
  pending: Pending[],
  results: (AppendResult | undefined)[],
): Promise<Pending[]> {
  const found = await context.events
    .find(
      { s: meta._id, e: meta.e, i: { $in: pending.map((p) => p.id) } },
      {
        projection: { o: 1, i: 1 },
      },
    )
    .toArray();
  if (found.length === 0) return pending;
  const currentHead = await context.access.findHead(meta.e, head);
  const earliest = await context.state.earliest(meta, currentHead);
  const offsetOf = new Map<string, number>();
  const dropped: number[] = [];
  for (const doc of found) {
    if (doc.o >= earliest) offsetOf.set(doc.i, doc.o);
    else dropped.push(doc.o);
  }
  if (dropped.length > 0 && !context.atomicUpdates) {
    // Only the sweep may delete here (it raises the head floor first, and a conditional update
    // is no compare-and-set on this server). Renaming a trimmed event's id keeps its document,
    // so the head and every offset stay put, and frees the id: it appends anew, as the
    // trimmed-id rule requires. Readers never see the renamed event (it is below earliest).
    // In bulks of RENAME_BATCH: FerretDB never answers a bulk of 100 or more updates.
    for (let at = 0; at < dropped.length; at += RENAME_BATCH) {
      await context.events.bulkWrite(
        dropped.slice(at, at + RENAME_BATCH).map((o) => ({
          updateOne: {
            filter: { _id: eventKey(meta.e, o) },
            update: { $set: { i: trimmedIdMark() } },
          },
        })),
        { ordered: false },
      );
    }
  } else if (dropped.length > 0) {
    await context.meta.raise(meta._id, meta.e, { f: earliest - 1, h: earliest - 1 });
    await context.events.deleteMany({ _id: { $in: dropped.map((o) => eventKey(meta.e, o)) } });
    // Trim all of it, entries this append just wrote under earliest included: left in place
    // under the raised mark they would look written into slots a concurrent trim had freed
    // (`trimmedUnder`), and be written again at later offsets.
    await context.access.deleteRange(meta.e, meta.f + 1, earliest - 1);
  }
  return pending.filter((p) => {
    const offset = offsetOf.get(p.id);
    if (offset === undefined) return true;
    results[p.index] = { offset, id: p.id, duplicate: true, epoch: meta.e };
    return false;
  });
}

/** Trims by length (amortized) and records the head for age retention. */
async function applyRetention(context: AppendContext, meta: StreamDocument, head: number) {
  if (!context.atomicUpdates) return;
  const { maxLength, maxAgeMs } = context.retention;
  const marks: { h?: number; f?: number } = {};
  // Age retention can drop every event: keep the head in the stream document.
  if (maxAgeMs !== undefined) marks.h = head;
  let trimTo = 0;
  if (maxLength !== undefined) {
    const every = Math.max(1, Math.min(1_000, Math.floor(maxLength / 4)));
    if (head - maxLength - meta.f >= every) {
      trimTo = head - maxLength;
      marks.f = trimTo;
      marks.h = Math.max(marks.h ?? 0, trimTo);
    }
  }
  if (marks.h === undefined) return;
  await context.meta.raise(meta._id, meta.e, marks);
  if (trimTo > 0) await context.access.deleteRange(meta.e, meta.f + 1, trimTo);
}
