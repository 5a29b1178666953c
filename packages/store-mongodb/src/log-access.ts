import type { Collection } from "mongodb";
import { type EventDocument, eventKey } from "./documents.js";
import { SequentialScans } from "./sequential-scan.js";

/** How many point lookups run at once when reading a page without range queries. */
const LOOKUP_CONCURRENCY = 8;
/**
 * Longest range read by point lookups. On FerretDB a range query costs a pass over the
 * collection and a sort, a lookup a fast one (through the `_id` index where the server's build
 * uses it, tools/ferretdb; else a scan that stops at the match): beyond this many events a range is read from a cursor that the next read
 * continues (`SequentialScans`), one pass for many pages.
 */
const MAX_POINT_RANGE = 16;
/** How many deletes go in one bulk write. */
const DELETE_BATCH = 1_000;

/**
 * Reads and deletes the events of one epoch. Two implementations: range queries on `_id`
 * (MongoDB, where they use the index) and point lookups on `_id` (FerretDB, where any other
 * filter scans the collection). Both return only a consecutive run of offsets.
 */
export interface LogAccess {
  /** The newest offset present in `epoch`, given every offset in `(floor, head]` is present. */
  findHead(epoch: string, floor: number): Promise<number>;
  /** The events `from..to` that are present, stopping before the first missing one. */
  readRange(epoch: string, from: number, to: number): Promise<EventDocument[]>;
  /**
   * A read's page: the events from `from` on, at most `limit`, up to the head `head` resolves
   * to, stopping before the first missing one. Where a page comes from an open cursor (whose
   * events are all at or below the current head), it is read while the head is being found.
   */
  readPage(
    epoch: string,
    from: number,
    limit: number,
    head: Promise<number>,
  ): Promise<EventDocument[]>;
  /** The first offset in `from..to` whose time is at or after `cutoff`, if any. */
  firstYoungerThan(
    epoch: string,
    from: number,
    to: number,
    cutoff: number,
  ): Promise<number | undefined>;
  /** The event at `offset`, if present. */
  lookup(epoch: string, offset: number): Promise<EventDocument | null>;
  /** Deletes the events `from..to` of `epoch`. */
  deleteRange(epoch: string, from: number, to: number): Promise<void>;
  /** Releases what reads keep open (cursors); the store closes. */
  close(): Promise<void>;
}

function consecutive(docs: EventDocument[], from: number): EventDocument[] {
  let n = 0;
  while (n < docs.length && docs[n]!.o === from + n) n++;
  return n === docs.length ? docs : docs.slice(0, n);
}

function epochRange(epoch: string) {
  return { $gte: eventKey(epoch, 0), $lt: `${epoch};` };
}

async function readByRange(
  events: Collection<EventDocument>,
  epoch: string,
  from: number,
  to: number,
): Promise<EventDocument[]> {
  if (to < from) return [];
  const docs = await events
    .find({ _id: { $gte: eventKey(epoch, from), $lte: eventKey(epoch, to) } })
    .sort({ _id: 1 })
    .limit(to - from + 1)
    .toArray();
  return consecutive(docs, from);
}

/** Range queries on `_id` (MongoDB). Tolerates holes that a TTL index leaves. */
export function rangeLogAccess(events: Collection<EventDocument>): LogAccess {
  return {
    async findHead(epoch, floor) {
      const newest = await events
        .find({ _id: epochRange(epoch) }, { projection: { o: 1 } })
        .sort({ _id: -1 })
        .limit(1)
        .next();
      return Math.max(floor, newest?.o ?? 0);
    },
    readRange(epoch, from, to) {
      return readByRange(events, epoch, from, to);
    },
    async readPage(epoch, from, limit, head) {
      return readByRange(events, epoch, from, Math.min(await head, from + limit - 1));
    },
    async firstYoungerThan(epoch, from, to, cutoff) {
      if (to < from) return undefined;
      const first = await events
        .find(
          { _id: { $gte: eventKey(epoch, from), $lte: eventKey(epoch, to) }, t: { $gte: cutoff } },
          { projection: { o: 1 } },
        )
        .sort({ _id: 1 })
        .limit(1)
        .next();
      return first?.o;
    },
    lookup(epoch, offset) {
      return events.findOne({ _id: eventKey(epoch, offset) });
    },
    async deleteRange(epoch, from, to) {
      if (to < from) return;
      await events.deleteMany({ _id: { $gte: eventKey(epoch, from), $lte: eventKey(epoch, to) } });
    },
    async close() {},
  };
}

/**
 * Point lookups on `_id` (FerretDB on SQLite: `{ _id }` is the one filter it hands to SQLite,
 * every other one it evaluates document by document) for heads and short ranges; longer ranges
 * from cursors that consecutive reads continue (`SequentialScans`).
 */
export function pointLogAccess(events: Collection<EventDocument>): LogAccess {
  const scans = new SequentialScans(events);
  const exists = async (epoch: string, offset: number) =>
    (await events.findOne({ _id: eventKey(epoch, offset) }, { projection: { _id: 1 } })) !== null;
  const timeOf = async (epoch: string, offset: number) =>
    (await events.findOne({ _id: eventKey(epoch, offset) }, { projection: { t: 1 } }))?.t;
  const readRange = async (epoch: string, from: number, to: number) => {
    if (to - from + 1 > MAX_POINT_RANGE) return scans.read(epoch, from, to);
    const out: EventDocument[] = [];
    for (let start = from; start <= to; start += LOOKUP_CONCURRENCY) {
      const end = Math.min(to, start + LOOKUP_CONCURRENCY - 1);
      const lookups = [];
      for (let o = start; o <= end; o++) lookups.push(events.findOne({ _id: eventKey(epoch, o) }));
      for (const doc of await Promise.all(lookups)) {
        if (doc === null) return out;
        out.push(doc);
      }
    }
    return out;
  };
  return {
    async findHead(epoch, floor) {
      // Gallop up from the floor, then bisect: offsets above the floor are present up to the head.
      let present = floor;
      let step = 1;
      while (await exists(epoch, present + step)) {
        present += step;
        step *= 2;
      }
      let absent = present + step;
      while (absent - present > 1) {
        const middle = present + Math.floor((absent - present) / 2);
        if (await exists(epoch, middle)) present = middle;
        else absent = middle;
      }
      return present;
    },
    readRange,
    async readPage(epoch, from, limit, head) {
      if (limit > MAX_POINT_RANGE && scans.continues(epoch, from)) {
        // The cursor holds only events at or below the head: read it while the head is found
        // (on FerretDB each costs a pass over the collection; they run side by side).
        const [newest, docs] = await Promise.all([head, scans.read(epoch, from, from + limit - 1)]);
        return docs.slice(0, Math.max(0, newest - from + 1));
      }
      return readRange(epoch, from, Math.min(await head, from + limit - 1));
    },
    async firstYoungerThan(epoch, from, to, cutoff) {
      // Append times grow with offsets: bisect for the first young event.
      let low = from;
      let high = to + 1;
      while (low < high) {
        const middle = low + Math.floor((high - low) / 2);
        const time = await timeOf(epoch, middle);
        if (time !== undefined && time >= cutoff) high = middle;
        else low = middle + 1;
      }
      return low <= to ? low : undefined;
    },
    lookup(epoch, offset) {
      return events.findOne({ _id: eventKey(epoch, offset) });
    },
    async deleteRange(epoch, from, to) {
      for (let start = from; start <= to; start += DELETE_BATCH) {
        const end = Math.min(to, start + DELETE_BATCH - 1);
        const operations = [];
        for (let o = start; o <= end; o++) {
          operations.push({ deleteOne: { filter: { _id: eventKey(epoch, o) } } });
        }
        await events.bulkWrite(operations, { ordered: false });
      }
    },
    close() {
      return scans.close();
    },
  };
}
