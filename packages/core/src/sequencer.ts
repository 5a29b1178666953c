import { AssuredError } from "./errors.js";
import type {
  FetchRequest,
  HeadsRequest,
  StartFrom,
  SubscribedFrame,
  SubscribeRequest,
} from "./protocol.js";
import type { FetchResult, ParsedBatch } from "./sequencer-input.js";
import {
  bufferRecord,
  clearBuffer,
  forgetBuffered,
  handedOffset,
  newStreamState,
  rebuildIndexes,
  type StreamState,
} from "./sequencer-stream.js";
import type { Epoch, EventRecord, Offset, Position, RecoveryOutcome, StreamName } from "./types.js";
import {
  assertPosition,
  assertPositiveInteger,
  assertStreamName,
  MAX_READ_LIMIT,
} from "./validate.js";

/** Bounds of a `Sequencer`. */
export interface SequencerOptions {
  /** Records buffered per stream ahead of the application (default 1000). */
  maxBuffered?: number;
  /** Largest gap fetch, in records (default 500, at most 10,000). */
  fetchLimit?: number;
  /** Most streams subscribed at once (default 1000). */
  maxStreams?: number;
}

/** What the binding has to do after an input: report an outcome, send a fetch, call acks. */
export interface SequencerStep {
  /** A subscription outcome to report (G6), also for an epoch change seen mid-stream. */
  outcome?: RecoveryOutcome;
  /**
   * The outcome moved the position back within its epoch (the log diverged): persist it even
   * below the stored offset.
   */
  rewound?: true;
  /** A gap fetch to send (G7); pass the same object back to `fetched`. */
  fetch?: FetchRequest;
  /** Replay acknowledgements that may now be sent (flow control). */
  acks: Array<() => void>;
  /**
   * The log diverged under the stream's position while it was active (DESIGN §8): a record at
   * the position's offset arrived with another id, or the head fell below an offset already
   * received. The stream waits for a new `subscribed`: send this `assured:sub`, which carries
   * the position, so the server judges it (`diverged`) and the stream continues from there.
   */
  resubscribe?: SubscribeRequest;
}

/** Per stream, what a position check was sent for (see `checkMarks` and `heads`). */
export type CheckMarks = ReadonlyMap<
  StreamName,
  { epoch: Epoch; offset: Offset; generation: number }
>;

/** The result of `delivered`: the position to persist, acks that may now be sent, a fetch to send. */
export interface DeliveredStep {
  position: Position;
  acks: Array<() => void>;
  /** Records dropped from a full buffer, to fetch now that there is room (pass back to `fetched`). */
  fetch?: FetchRequest;
}

const DEFAULTS = { maxBuffered: 1000, fetchLimit: 500, maxStreams: 1000 };
/** Held replay acks per stream beyond which the oldest is released anyway. */
const MAX_HELD_ACKS = 64;

/**
 * The client's ordering state machine for server → client events (G1, G3, G6, G7). Pure: no
 * I/O, no timers; the binding feeds it frames and reports when handlers resolved.
 *
 * Per stream it keeps the position (the last offset whose handlers resolved), hands out
 * `last + 1` one record at a time (`next` / `delivered`, so delivery is serial per stream),
 * drops duplicates, buffers records that arrive ahead (bounded), and asks for missing ranges.
 *
 * @example
 * const seq = new Sequencer();
 * seq.track("room:1", null, "earliest");
 * seq.subscribed(frame);             // → { outcome }
 * seq.receive(batch);                // → { fetch? } when the batch skips ahead
 * for (let r; (r = seq.next("room:1")); ) { await handle(r); seq.delivered("room:1", r.offset); }
 */
export class Sequencer {
  readonly #streams = new Map<StreamName, StreamState>();
  readonly #maxBuffered: number;
  readonly #fetchLimit: number;
  readonly #maxStreams: number;

  constructor(options: SequencerOptions = {}) {
    this.#maxBuffered = options.maxBuffered ?? DEFAULTS.maxBuffered;
    this.#fetchLimit = options.fetchLimit ?? DEFAULTS.fetchLimit;
    this.#maxStreams = options.maxStreams ?? DEFAULTS.maxStreams;
    assertPositiveInteger(this.#maxBuffered, "maxBuffered");
    assertPositiveInteger(this.#fetchLimit, "fetchLimit");
    if (this.#fetchLimit > MAX_READ_LIMIT) {
      throw new AssuredError("INVALID_ARGUMENT", `fetchLimit must be at most ${MAX_READ_LIMIT}.`);
    }
    assertPositiveInteger(this.#maxStreams, "maxStreams");
  }

  /**
   * Starts tracking a stream from a stored position (or none). Returns false if it was already
   * tracked. Throws `LIMIT_EXCEEDED` beyond `maxStreams`.
   */
  track(stream: StreamName, position: Position | null, from: StartFrom): boolean {
    assertStreamName(stream);
    if (position !== null) assertPosition(position);
    if (this.#streams.has(stream)) return false;
    if (this.#streams.size >= this.#maxStreams) {
      throw new AssuredError(
        "LIMIT_EXCEEDED",
        `cannot subscribe to more than ${this.#maxStreams} streams; unsubscribe some first.`,
      );
    }
    this.#streams.set(stream, newStreamState(stream, position, from));
    return true;
  }

  /** Stops tracking a stream. Returns false if it was not tracked. */
  untrack(stream: StreamName): boolean {
    return this.#streams.delete(stream);
  }

  /**
   * Puts a tracked stream back to waiting for a `subscribed` frame, from `position` (a retry
   * after a handler failure) or afresh (`null`, a resync after an outcome that did not recover).
   * Returns held replay acks to send (the old replay is abandoned, not stalled).
   */
  restart(stream: StreamName, position: Position | null, from: StartFrom): Array<() => void> {
    const s = this.#streams.get(stream);
    if (!s) return [];
    if (position !== null) assertPosition(position);
    s.phase = "pending";
    s.from = from;
    s.position = position;
    s.inFlight = null;
    s.epoch = null;
    const acks = s.heldAcks;
    s.heldAcks = [];
    clearBuffer(s);
    return acks;
  }

  /** True when the stream is tracked. */
  has(stream: StreamName): boolean {
    return this.#streams.has(stream);
  }

  /** The tracked streams. */
  streams(): StreamName[] {
    return [...this.#streams.keys()];
  }

  /** The position of a tracked stream (last offset whose handlers resolved), or null. */
  position(stream: StreamName): Position | null {
    const p = this.#streams.get(stream)?.position;
    return p ? { ...p } : null;
  }

  /** True when a handler failed on the stream and delivery waits for a new subscription. */
  isPaused(stream: StreamName): boolean {
    return this.#streams.get(stream)?.phase === "paused";
  }

  /** True when the stream is tracked and waits for its `subscribed` frame. */
  awaitsSubscribed(stream: StreamName): boolean {
    return this.#streams.get(stream)?.phase === "pending";
  }

  /** The subscriptions to carry in the handshake (or to send as `assured:sub` frames). */
  subscriptions(): SubscribeRequest[] {
    const out: SubscribeRequest[] = [];
    for (const s of this.#streams.values()) {
      out.push({ stream: s.stream, position: s.position ? { ...s.position } : null, from: s.from });
    }
    return out;
  }

  /** The connection dropped: every stream waits for a new `subscribed`; buffers are cleared. */
  disconnected(): void {
    for (const s of this.#streams.values()) {
      s.phase = "pending";
      s.epoch = null;
      s.heldAcks = [];
      clearBuffer(s);
    }
  }

  /** Applies an `assured:subscribed` frame: sets (epoch, start) and reports the outcome (G6). */
  subscribed(frame: SubscribedFrame): SequencerStep {
    const s = this.#streams.get(frame.stream);
    if (!s) return { acks: [] };
    const old = s.position;
    // A log rewritten under the position (`diverged`, or the `epoch` an older server — or any
    // server, for a position without an id — gives an offset beyond the head of its own epoch:
    // a not-recovered outcome starts at the head, which is never below a delivered offset
    // otherwise) moves the position to `start`, back if need be.
    const rewound =
      old !== null &&
      old.epoch === frame.epoch &&
      (frame.reason === "diverged" || (!frame.recovered && frame.start < old.offset));
    const sameEpoch = old !== null && old.epoch === frame.epoch && !rewound;
    const offset = sameEpoch ? Math.max(frame.start, old.offset) : frame.start;
    if (s.inFlight && !(sameEpoch && s.inFlight.offset === offset + 1)) s.inFlight = null;
    s.position = { epoch: frame.epoch, offset };
    // The id of the event at the offset: the old one where the position stayed, else the
    // server's (`startId`) when the position is `start`.
    if (sameEpoch && offset === old.offset && old.id !== undefined) s.position.id = old.id;
    else if (offset === frame.start && frame.startId !== undefined) s.position.id = frame.startId;
    s.generation++;
    if (s.epoch !== frame.epoch) forgetBuffered(s);
    // What was seen of the old history says nothing of the new one (the buffer holds only
    // records received since this subscription was asked for: the current log).
    if (rewound) s.seenHighest = 0;
    s.epoch = frame.epoch;
    s.phase = "active";
    s.fetch = null;
    s.lastCheck = null;
    s.replayUntil = Math.max(frame.head, offset);
    rebuildIndexes(s);
    const outcome: RecoveryOutcome = {
      stream: s.stream,
      recovered: frame.recovered,
      position: { ...s.position },
    };
    if (frame.reason !== undefined) outcome.reason = frame.reason;
    const step: SequencerStep = { outcome, acks: [] };
    if (rewound) step.rewound = true;
    return this.#finish(s, step);
  }

  /**
   * Accepts a batch of records (live or replay). `ack` is the replay flow-control callback; it
   * comes back in a step's `acks` once the buffer has room (at most half full).
   */
  receive(batch: ParsedBatch, ack?: () => void): SequencerStep {
    const s = this.#streams.get(batch.stream);
    const step: SequencerStep = { acks: [] };
    if (!s || s.phase === "paused") {
      if (ack) step.acks.push(ack);
      return step;
    }
    if (ack) this.#hold(s, ack, step);
    if (s.phase === "pending") {
      if (s.epoch !== batch.epoch) {
        forgetBuffered(s);
        s.epoch = batch.epoch;
      }
      for (const record of batch.records) bufferRecord(s, record, this.#maxBuffered);
      return this.#release(s, step);
    }
    const first = batch.records[0];
    // A batch in another epoch means the log was reset: continue from just before it.
    const sameEpoch = first ? this.#sameEpoch(s, batch.epoch, step, first.offset - 1) : true;
    if (sameEpoch && this.#rewritten(s, batch.records)) return this.#diverge(s, step);
    for (const record of batch.records) bufferRecord(s, record, this.#maxBuffered);
    return this.#finish(s, step);
  }

  /**
   * The next record to hand to the application, or undefined if none is ready or one is still
   * being handled. Call `delivered` (or `failed`) with its offset when its handlers settle.
   */
  next(stream: StreamName): EventRecord | undefined {
    const s = this.#streams.get(stream);
    if (s?.phase !== "active" || s.inFlight) return undefined;
    const offset = handedOffset(s) + 1;
    const record = s.buffer.get(offset);
    if (!record) return undefined;
    s.buffer.delete(offset);
    s.inFlight = record;
    return record;
  }

  /**
   * The application's handlers resolved for `offset`: the position advances. Returns the new
   * position to persist, or undefined when the record is stale (the stream was reset meanwhile).
   */
  delivered(stream: StreamName, offset: Offset): DeliveredStep | undefined {
    const s = this.#streams.get(stream);
    if (!s?.inFlight || s.inFlight.offset !== offset || !s.position) return undefined;
    const id = s.inFlight.id;
    s.inFlight = null;
    // The id goes with the offset (DESIGN §8): the server checks it on resume.
    s.position = { epoch: s.position.epoch, offset, id };
    const step: SequencerStep = { acks: [] };
    // Records dropped from a full buffer are fetched once the handlers made room (G2, G11).
    if (s.seenHighest > s.highest && s.buffer.size <= this.#maxBuffered / 2) this.#finish(s, step);
    else this.#release(s, step);
    const result: DeliveredStep = { position: { ...s.position }, acks: step.acks };
    if (step.fetch) result.fetch = step.fetch;
    return result;
  }

  /**
   * A handler failed for `offset`: the position does not advance and the stream pauses (G1: no
   * later record may be delivered before it). It is delivered again after the stream is
   * subscribed again (`restart`, or the next reconnect). Returns acks to release.
   */
  failed(stream: StreamName, offset: Offset): Array<() => void> {
    const s = this.#streams.get(stream);
    if (!s?.inFlight || s.inFlight.offset !== offset) return [];
    s.inFlight = null;
    s.phase = "paused";
    clearBuffer(s);
    const acks = s.heldAcks;
    s.heldAcks = [];
    return acks;
  }

  /**
   * Applies the reply to a gap fetch made by this sequencer (`request` is the object it
   * returned). A reply in another epoch is an `epoch` outcome; a range that was trimmed away
   * meanwhile is a `trimmed` outcome (the position moves to the head).
   */
  fetched(request: FetchRequest, reply: FetchResult): SequencerStep {
    const s = this.#streams.get(request.stream);
    const step: SequencerStep = { acks: [] };
    if (!s || s.fetch !== request) return step;
    s.fetch = null;
    if (!reply.ok || s.phase !== "active") return step;
    if (!this.#sameEpoch(s, reply.epoch, step, reply.head)) return this.#finish(s, step);
    // Offsets up to `after` had been received when the fetch was sent: a head below them, or
    // another id at the position, is a log rewritten under the stream.
    if (reply.head < request.after || this.#rewritten(s, reply.records)) {
      return this.#diverge(s, step);
    }
    const before = s.contiguous;
    for (const record of reply.records) bufferRecord(s, record, this.#maxBuffered);
    if (s.contiguous === handedOffset(s) && reply.earliest > s.contiguous + 1) {
      this.#jump(s, reply.epoch, reply.head, "trimmed", step);
      return this.#finish(s, step);
    }
    // No progress: leave the rest to the next position check rather than loop.
    return s.contiguous > before ? this.#finish(s, step) : this.#release(s, step);
  }

  /** True while `request` is the stream's outstanding gap fetch (its reply is still wanted). */
  awaitsFetch(request: FetchRequest): boolean {
    return this.#streams.get(request.stream)?.fetch === request;
  }

  /** A gap fetch failed or timed out: forget it so a later input can ask again. */
  fetchFailed(request: FetchRequest): void {
    const s = this.#streams.get(request.stream);
    if (s && s.fetch === request) s.fetch = null;
  }

  /**
   * What a position check of `streams` is sent for: each active stream's epoch and handed-out
   * offset now. Pass it to `heads` with the reply: a head below it is a diverged log.
   */
  checkMarks(streams: readonly StreamName[]): CheckMarks {
    const marks = new Map<StreamName, { epoch: Epoch; offset: Offset; generation: number }>();
    for (const stream of streams) {
      const s = this.#streams.get(stream);
      if (s?.phase !== "active" || !s.position) continue;
      marks.set(stream, {
        epoch: s.position.epoch,
        offset: handedOffset(s),
        generation: s.generation,
      });
    }
    return marks;
  }

  /** The streams to check with `assured:heads`, or null when none is active. */
  checkRequest(): HeadsRequest | null {
    const streams: StreamName[] = [];
    for (const s of this.#streams.values()) if (s.phase === "active") streams.push(s.stream);
    return streams.length === 0 ? null : { streams };
  }

  /**
   * Applies a heads reply (the periodic position check, G7). A stream whose received prefix did
   * not grow since the previous check while records are missing (beyond everything received, in
   * a hole whose fetch failed, or below a replay the server stopped) gets a fetch for them; a
   * stream in another epoch gets an `epoch` outcome. With `marks` (taken
   * when the request was sent), a stream whose subscription changed since then is skipped (the
   * reply may predate its outcome), and a head below an offset already handed out then, in the
   * same epoch, is a diverged log: the step asks to `resubscribe`.
   */
  heads(
    heads: Record<StreamName, { epoch: Epoch; head: Offset }>,
    marks?: CheckMarks,
  ): SequencerStep[] {
    const steps: SequencerStep[] = [];
    for (const s of this.#streams.values()) {
      if (s.phase !== "active" || !Object.hasOwn(heads, s.stream)) continue;
      const h = heads[s.stream];
      if (!h || typeof h.epoch !== "string" || !Number.isSafeInteger(h.head)) continue;
      const mark = marks?.get(s.stream);
      // A reply to a check sent before the stream's latest outcome (or before it was active)
      // may describe the log as it was before the one the client was since told about (read
      // before a subscription's, answered after it): it says nothing of the current one.
      if (marks !== undefined && mark?.generation !== s.generation) continue;
      const step: SequencerStep = { acks: [] };
      if (!this.#sameEpoch(s, h.epoch, step, h.head)) {
        steps.push(this.#finish(s, step));
        continue;
      }
      if (mark !== undefined && mark.epoch === h.epoch && h.head < mark.offset) {
        steps.push(this.#diverge(s, step));
        continue;
      }
      const known = Math.max(s.highest, s.contiguous, s.seenHighest);
      const until = Math.max(h.head, known);
      // The records after `contiguous` did not come since the previous check, and not because
      // flow control held them back (the buffer has room, or the application handled all it
      // has): they will not come by themselves — a trailing gap, a hole whose fetch failed or
      // timed out, a replay the server stopped (live events may keep arriving beyond it).
      // Fetch them; the replay no longer counts.
      const waiting = s.buffer.size <= this.#maxBuffered / 2 || handedOffset(s) === s.contiguous;
      const stalled = s.lastCheck === s.contiguous && waiting && until > s.contiguous;
      if (stalled && s.fetch === null) {
        s.replayUntil = Math.min(s.replayUntil, s.contiguous);
        step.fetch = this.#request(s, s.contiguous, until);
      }
      s.lastCheck = s.contiguous;
      if (step.fetch) steps.push(step);
    }
    return steps;
  }

  // Returns true when `epoch` is the stream's epoch (or was adopted at offset 0); otherwise
  // jumps to (epoch, start) with an `epoch` outcome and returns false.
  #sameEpoch(s: StreamState, epoch: Epoch, step: SequencerStep, start: Offset): boolean {
    if (!s.position || s.position.epoch === epoch) return true;
    if (handedOffset(s) === 0 && s.buffer.size === 0) {
      // Offset 0 is valid in every epoch: a stream's first log gets its epoch here.
      s.position = { epoch, offset: 0 };
      s.epoch = epoch;
      return true;
    }
    this.#jump(s, epoch, Math.max(0, start), "epoch", step);
    return false;
  }

  #jump(
    s: StreamState,
    epoch: Epoch,
    start: Offset,
    reason: "epoch" | "trimmed",
    step: SequencerStep,
  ): void {
    if (s.epoch !== epoch) forgetBuffered(s);
    s.inFlight = null;
    s.position = { epoch, offset: start };
    s.epoch = epoch;
    s.fetch = null;
    s.lastCheck = null;
    s.replayUntil = start;
    s.generation++;
    rebuildIndexes(s);
    step.outcome = { stream: s.stream, recovered: false, reason, position: { ...s.position } };
  }

  // True when `records` show the log rewritten under the stream: the record at the position's
  // offset, or at the in-flight one, has another id (ids are unique within a stream).
  #rewritten(s: StreamState, records: readonly EventRecord[]): boolean {
    const position = s.position;
    for (const r of records) {
      if (position?.id !== undefined && r.offset === position.offset && r.id !== position.id) {
        return true;
      }
      if (s.inFlight !== null && r.offset === s.inFlight.offset && r.id !== s.inFlight.id) {
        return true;
      }
    }
    return false;
  }

  // The log diverged under an active stream: it waits for a new `subscribed` (the record being
  // handled no longer counts), and the step asks the binding to subscribe again from the
  // position, so the server gives the outcome.
  #diverge(s: StreamState, step: SequencerStep): SequencerStep {
    s.phase = "pending";
    s.inFlight = null;
    s.epoch = null;
    clearBuffer(s);
    step.acks.push(...s.heldAcks);
    s.heldAcks = [];
    step.resubscribe = {
      stream: s.stream,
      position: s.position ? { ...s.position } : null,
      from: s.from,
    };
    return step;
  }

  // Adds a gap fetch when records are missing beyond a hole the replay will not fill (records
  // wait after it, or were dropped from a full buffer), then releases acks.
  #finish(s: StreamState, step: SequencerStep): SequencerStep {
    if (s.phase === "active" && s.fetch === null) {
      const after = Math.max(s.contiguous, s.replayUntil);
      // Records dropped from a full buffer (up to seenHighest) are fetched once there is room
      // for them; a hole below the highest buffered record right away.
      const room = s.buffer.size <= this.#maxBuffered / 2;
      const until = s.seenHighest > s.highest && room ? s.seenHighest : s.highest - 1;
      if (until > after) step.fetch = this.#request(s, after, until);
    }
    return this.#release(s, step);
  }

  #request(s: StreamState, after: Offset, until: Offset): FetchRequest {
    const request: FetchRequest = {
      stream: s.stream,
      epoch: s.position?.epoch ?? "",
      after,
      limit: Math.max(1, Math.min(this.#fetchLimit, until - after)),
    };
    s.fetch = request;
    return request;
  }

  #hold(s: StreamState, ack: () => void, step: SequencerStep): void {
    s.heldAcks.push(ack);
    if (s.heldAcks.length > MAX_HELD_ACKS) step.acks.push(s.heldAcks.shift() as () => void);
  }

  #release(s: StreamState, step: SequencerStep): SequencerStep {
    if (s.heldAcks.length > 0 && s.buffer.size <= this.#maxBuffered / 2) {
      step.acks.push(...s.heldAcks);
      s.heldAcks = [];
    }
    return step;
  }
}
