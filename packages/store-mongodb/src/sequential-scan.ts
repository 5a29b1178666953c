import type { Collection, FindCursor } from "mongodb";
import { type EventDocument, eventKey } from "./documents.js";

/**
 * Pages read one after another from one sorted cursor, for servers whose range queries scan
 * the collection (FerretDB 1.x on SQLite: every filter but `{ _id: <string> }` is evaluated
 * document by document and sorted in FerretDB; as released even that one scans, as its SQL does
 * not match the `_id` index — tools/ferretdb builds the test server with the two aligned). There a page of a 100,000-event stream cost a pass over 100,000
 * documents, and a catch-up read 100,000 events in 50–200 such passes. Here the first read of a
 * range opens one cursor over the rest of the epoch (one pass), and the read that starts where
 * the previous one stopped takes its page from that cursor.
 *
 * A cursor serves what the log held when it was opened: events are immutable once written (a
 * reset starts a new epoch, so a new cursor), a trim only removes events before a read's start
 * (which the caller computes anew), and callers cap `to` at the head they read. It is dropped
 * after `SCAN_IDLE_MS` without a read, after `SCAN_MAX_AGE_MS`, and beyond `MAX_SCANS` open ones.
 */

/** A cursor not continued for this long is closed (its next read opens a new one). */
const SCAN_IDLE_MS = 2_000;
/**
 * No cursor serves reads for longer than this (a new one sees the log as it is now). Opening
 * one over 100,000 events takes FerretDB 5–30 s, so a shorter age would reopen it mid-catch-up.
 */
const SCAN_MAX_AGE_MS = 120_000;
/** Most cursors open at once; the least recently used is closed beyond it. */
const MAX_SCANS = 8;
/** Documents per batch the server sends to a cursor. */
const SCAN_BATCH = 1_000;

interface Scan {
  cursor: FindCursor<EventDocument>;
  /** The offset a read must start at to continue this cursor. */
  next: number;
  /** A document read from the cursor beyond the last read's range. */
  peeked: EventDocument | null;
  busy: boolean;
  openedAt: number;
  usedAt: number;
  /** Closes the cursor once it has been idle for `SCAN_IDLE_MS`. */
  idle: ReturnType<typeof setTimeout> | undefined;
}

/** Sorted cursors over the events of one collection, by epoch (see the module comment). */
export class SequentialScans {
  readonly #events: Collection<EventDocument>;
  readonly #now: () => number;
  /** Open cursors by epoch, least recently used first. */
  readonly #scans = new Map<string, Scan>();

  constructor(events: Collection<EventDocument>, now: () => number = () => performance.now()) {
    this.#events = events;
    this.#now = now;
  }

  /**
   * The events `from..to` of `epoch` that are present, stopping before the first missing one,
   * from the cursor the previous read of the epoch left at `from` (else from a new one).
   */
  async read(epoch: string, from: number, to: number): Promise<EventDocument[]> {
    if (to < from) return [];
    const now = this.#now();
    let scan = this.#scans.get(epoch);
    if (scan !== undefined && !this.continues(epoch, from)) {
      if (scan.busy) return this.#readOnce(epoch, from, to); // another read runs on it
      this.#drop(epoch, scan);
      scan = undefined;
    }
    if (scan === undefined) scan = this.#open(epoch, from, now);
    this.#scans.delete(epoch);
    this.#scans.set(epoch, scan); // most recently used last
    scan.busy = true;
    const out: EventDocument[] = [];
    try {
      let expected = from;
      let hole = false; // or the cursor's end: either way it is not continued
      while (expected <= to) {
        const doc = scan.peeked ?? (await scan.cursor.next());
        scan.peeked = null;
        if (doc === null) {
          // The end of what the log held when the cursor opened: a later read opens a new one.
          hole = true;
          break;
        }
        if (doc.o < expected) continue;
        if (doc.o !== expected) {
          // An event missing inside the range: the next read asks the log anew.
          hole = doc.o <= to;
          scan.peeked = doc;
          break;
        }
        out.push(doc);
        expected++;
      }
      scan.next = expected;
      scan.usedAt = this.#now();
      if (hole) this.#drop(epoch, scan);
      else this.#closeWhenIdle(epoch, scan);
    } catch (error) {
      this.#drop(epoch, scan);
      throw error;
    } finally {
      scan.busy = false;
    }
    return out;
  }

  /** Whether a read of `epoch` from `from` would continue an open cursor (not open a new one). */
  continues(epoch: string, from: number): boolean {
    const scan = this.#scans.get(epoch);
    const now = this.#now();
    return (
      scan !== undefined &&
      !scan.busy &&
      scan.next === from &&
      now - scan.usedAt < SCAN_IDLE_MS &&
      now - scan.openedAt < SCAN_MAX_AGE_MS
    );
  }

  /** Closes every cursor (the store closes). */
  async close(): Promise<void> {
    const scans = [...this.#scans.values()];
    this.#scans.clear();
    for (const scan of scans) clearTimeout(scan.idle);
    await Promise.all(scans.map((scan) => scan.cursor.close().catch(() => undefined)));
  }

  #open(epoch: string, from: number, now: number): Scan {
    for (const [other, scan] of this.#scans) {
      if (this.#scans.size < MAX_SCANS) break;
      if (!scan.busy) this.#drop(other, scan);
    }
    const cursor = this.#events
      .find({ _id: { $gte: eventKey(epoch, from), $lt: `${epoch};` } })
      .sort({ _id: 1 })
      .batchSize(SCAN_BATCH);
    return {
      cursor,
      next: from,
      peeked: null,
      busy: false,
      openedAt: now,
      usedAt: now,
      idle: undefined,
    };
  }

  /**
   * Closes `scan` after `SCAN_IDLE_MS` unless a read continues it first (FerretDB holds an open
   * cursor's sorted documents in memory until it is closed).
   */
  #closeWhenIdle(epoch: string, scan: Scan): void {
    clearTimeout(scan.idle);
    scan.idle = setTimeout(() => {
      if (!scan.busy) this.#drop(epoch, scan);
    }, SCAN_IDLE_MS);
    scan.idle.unref?.();
  }

  #drop(epoch: string, scan: Scan): void {
    clearTimeout(scan.idle);
    if (this.#scans.get(epoch) === scan) this.#scans.delete(epoch);
    void scan.cursor.close().catch(() => undefined);
  }

  /** One read that does not disturb the open cursor of its epoch. */
  async #readOnce(epoch: string, from: number, to: number): Promise<EventDocument[]> {
    const docs = await this.#events
      .find({ _id: { $gte: eventKey(epoch, from), $lte: eventKey(epoch, to) } })
      .sort({ _id: 1 })
      .limit(to - from + 1)
      .toArray();
    let n = 0;
    while (n < docs.length && docs[n]!.o === from + n) n++;
    return docs.slice(0, n);
  }
}
