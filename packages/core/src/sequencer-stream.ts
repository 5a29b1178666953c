import type { FetchRequest, StartFrom } from "./protocol.js";
import type { Epoch, EventRecord, Offset, Position, StreamName } from "./types.js";

/**
 * Where one stream's subscription stands:
 * - `pending`: waiting for `assured:subscribed` (records that arrive meanwhile are buffered);
 * - `active`: delivering in offset order;
 * - `paused`: a handler failed; nothing is delivered until the stream is subscribed again.
 */
export type StreamPhase = "pending" | "active" | "paused";

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
   * The highest offset received in this epoch, buffered or dropped from a full buffer: the
   * records in (contiguous, seenHighest] that are not buffered must be fetched (G2, G11).
   */
  seenHighest: Offset;
  /** The replay announced by `subscribed` covers offsets up to here. */
  replayUntil: Offset;
  /** The outstanding gap fetch, at most one per stream. */
  fetch: FetchRequest | null;
  /**
   * `contiguous` at the previous position check: two checks in a row with it unmoved, while
   * records are missing, mean nothing is coming for them (a fetch failed or timed out, a replay
   * stopped): they are fetched (G7).
   */
  lastCheck: Offset | null;
  /** Replay acknowledgements held back while the buffer is more than half full. */
  heldAcks: Array<() => void>;
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
    seenHighest: offset,
    replayUntil: offset,
    fetch: null,
    lastCheck: null,
    heldAcks: [],
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
  if (s.seenHighest < highest) s.seenHighest = highest;
}

/** Drops the buffered records and what was seen of the log (its epoch changed). */
export function forgetBuffered(s: StreamState): void {
  s.buffer.clear();
  s.seenHighest = 0;
}

/**
 * Buffers one record, bounded by `maxBuffered`: duplicates (at or below the handed offset, or
 * already buffered) are dropped; when the buffer is full the furthest record is dropped (the
 * incoming one if it is the furthest), to be fetched again as a gap. Returns true if buffered.
 */
export function bufferRecord(s: StreamState, record: EventRecord, maxBuffered: number): boolean {
  const offset = record.offset;
  if (s.phase === "active" && offset <= handedOffset(s)) return false;
  if (s.buffer.has(offset)) return false;
  if (offset > s.seenHighest) s.seenHighest = offset;
  if (s.buffer.size >= maxBuffered) {
    // `highest` is never below a buffered offset, so when it is buffered it is the furthest:
    // a slow client whose buffer stays full drops live records without scanning the buffer.
    let furthest = s.buffer.has(s.highest) ? s.highest : -1;
    if (furthest < 0) for (const key of s.buffer.keys()) if (key > furthest) furthest = key;
    // A dropped record must be fetched: the announced replay will not send it again.
    if (offset > furthest) {
      s.replayUntil = Math.min(s.replayUntil, offset - 1);
      return false;
    }
    s.buffer.delete(furthest);
    s.replayUntil = Math.min(s.replayUntil, furthest - 1);
    if (s.contiguous >= furthest) s.contiguous = furthest - 1;
    let highest = s.contiguous;
    for (const key of s.buffer.keys()) if (key > highest) highest = key;
    s.highest = highest;
  }
  s.buffer.set(offset, record);
  if (offset > s.highest) s.highest = offset;
  if (offset === s.contiguous + 1) {
    while (s.buffer.has(s.contiguous + 1)) s.contiguous++;
  }
  return true;
}

/** Drops buffered records, the outstanding fetch and the check memory. */
export function clearBuffer(s: StreamState): void {
  s.buffer.clear();
  s.fetch = null;
  s.lastCheck = null;
  const handed = handedOffset(s);
  s.contiguous = handed;
  s.highest = handed;
  s.seenHighest = handed;
}
