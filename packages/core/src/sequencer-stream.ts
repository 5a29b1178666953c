import type { FetchRequest, StartFrom } from "./protocol.js";
import type { Epoch, EventRecord, Offset, Position, StreamName } from "./types.js";

/**
 * Where one stream's subscription stands:
 * - `pending`: waiting for `assured:subscribed` (records that arrive meanwhile are buffered);
 * - `active`: delivering in offset order, pulling what is missing;
 * - `paused`: a handler failed; nothing is delivered until the stream is subscribed again.
 */
export type StreamPhase = "pending" | "active" | "paused";

/** The outstanding fetch of a stream and when it is given up (timeout). */
export interface OutstandingFetch {
  request: FetchRequest;
  deadline: number;
  /**
   * The epochs live batches had named (`epochHints`) when it was sent: its reply, read after
   * those batches arrived, settles them (and only them).
   */
  checks: ReadonlySet<Epoch>;
  /** `StreamState.unnotedBatches` when it was sent: its reply settles those batches. */
  settlesUnnoted: number;
}

/** What live batches of another epoch said of its log (`StreamState.epochHints`). */
export interface EpochHint {
  /** The offset just before the earliest batch: where the stream continues if confirmed. */
  start: Offset;
  /** The highest offset the batches carried (a fetch from offset 0 asks up to it). */
  last: Offset;
}

/** The sequencer's state of one subscribed stream. Internal to `Sequencer`. */
export interface StreamState {
  stream: StreamName;
  from: StartFrom;
  phase: StreamPhase;
  /** The last offset whose handlers resolved, or null before the first subscription outcome. */
  position: Position | null;
  /** The record handed to the application and not yet reported delivered. */
  inFlight: EventRecord | null;
  /** Epoch of the buffered records. */
  epoch: Epoch | null;
  /** Records after the handed-out offset, keyed by offset; bounded by `maxBuffered`. */
  buffer: Map<Offset, EventRecord>;
  /** Every offset in (handed, contiguous] is in the buffer. */
  contiguous: Offset;
  /** The highest buffered offset (or `contiguous` when the buffer is empty). */
  highest: Offset;
  /**
   * The highest head of the stream's log the client knows in this epoch: from the subscribe
   * reply, live batches, fetch replies and position checks. While `contiguous` is below it the
   * stream keeps one fetch outstanding (DESIGN §8, one repair loop pulled by the client).
   */
  knownHead: Offset;
  /** The outstanding fetch, at most one per stream. */
  fetch: OutstandingFetch | null;
  /**
   * Epochs other than the stream's that live batches named. A batch is no proof: it can arrive
   * late, from a log the store has since lost (a broadcast queued while a connection was down);
   * a fetch sent after it reads the store and settles it.
   */
  epochHints: Map<Epoch, EpochHint>;
  /**
   * Live batches whose epoch was not noted (the hints were full) and that no fetch sent after
   * them has settled yet: while any, a fetch is sent even when caught up (its reply reads the
   * store, in whatever epoch the log is).
   */
  unnotedBatches: number;
  /** Failed fetches in a row (timeouts, errors, replies without progress): the backoff. */
  failures: number;
  /** After a failure: no fetch before this time. */
  retryAt: number | null;
  /**
   * Bumped whenever the position may move other than forward by delivery (an outcome): a heads
   * reply is compared with the offsets handed out when its request was sent only if unchanged.
   */
  generation: number;
}

/** A fresh state for a stream that was just subscribed. */
export function newStreamState(
  stream: StreamName,
  position: Position | null,
  from: StartFrom,
): StreamState {
  const offset = position?.offset ?? 0;
  return {
    stream,
    from,
    phase: "pending",
    position,
    inFlight: null,
    epoch: null,
    buffer: new Map(),
    contiguous: offset,
    highest: offset,
    knownHead: offset,
    fetch: null,
    epochHints: new Map(),
    unnotedBatches: 0,
    failures: 0,
    retryAt: null,
    generation: 0,
  };
}

/** The highest offset given to the application (delivered, or being delivered right now). */
export function handedOffset(s: StreamState): Offset {
  return s.inFlight ? s.inFlight.offset : (s.position?.offset ?? 0);
}

/** Recomputes `contiguous` and `highest` after the buffer or the handed offset changed. */
export function rebuildIndexes(s: StreamState): void {
  const handed = handedOffset(s);
  for (const offset of s.buffer.keys()) if (offset <= handed) s.buffer.delete(offset);
  let contiguous = handed;
  while (s.buffer.has(contiguous + 1)) contiguous++;
  let highest = contiguous;
  for (const offset of s.buffer.keys()) if (offset > highest) highest = offset;
  s.contiguous = contiguous;
  s.highest = highest;
  if (s.knownHead < highest) s.knownHead = highest;
}

/**
 * Buffers one record, bounded by `maxBuffered`: duplicates (at or below the handed offset, or
 * already buffered) are dropped; when the buffer is full the furthest record is dropped (the
 * incoming one if it is the furthest). A dropped record is below the known head, so the repair
 * loop fetches it again once there is room. Returns true if buffered.
 */
export function bufferRecord(s: StreamState, record: EventRecord, maxBuffered: number): boolean {
  const offset = record.offset;
  if (offset > s.knownHead) s.knownHead = offset;
  if (s.phase === "active" && offset <= handedOffset(s)) return false;
  if (s.buffer.has(offset)) return false;
  if (s.buffer.size >= maxBuffered) {
    // `highest` is never below a buffered offset, so when it is buffered it is the furthest:
    // a slow client whose buffer stays full drops live records without scanning the buffer.
    let furthest = s.buffer.has(s.highest) ? s.highest : -1;
    if (furthest < 0) for (const key of s.buffer.keys()) if (key > furthest) furthest = key;
    if (offset > furthest) return false;
    dropBuffered(s, furthest);
  }
  s.buffer.set(offset, record);
  if (offset > s.highest) s.highest = offset;
  if (offset === s.contiguous + 1) {
    while (s.buffer.has(s.contiguous + 1)) s.contiguous++;
  }
  return true;
}

/** Drops one buffered record (it stays below the known head: it is fetched again). */
export function dropBuffered(s: StreamState, offset: Offset): void {
  if (!s.buffer.delete(offset)) return;
  if (s.contiguous >= offset) s.contiguous = offset - 1;
  if (s.highest === offset) {
    let highest = s.contiguous;
    for (const key of s.buffer.keys()) if (key > highest) highest = key;
    s.highest = highest;
  }
}

/**
 * Drops buffered records, the outstanding fetch, an epoch hint, the backoff and what is known of
 * the head.
 */
export function clearBuffer(s: StreamState): void {
  s.buffer.clear();
  s.fetch = null;
  s.epochHints.clear();
  s.unnotedBatches = 0;
  s.failures = 0;
  s.retryAt = null;
  const handed = handedOffset(s);
  s.contiguous = handed;
  s.highest = handed;
  s.knownHead = handed;
}
