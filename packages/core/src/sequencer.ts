import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  type RandomSource,
  type RetryPolicy,
} from "./backoff.js";
import { AssuredError } from "./errors.js";
import type { FetchRequest, HeadsRequest, StartFrom, SubscribeRequest } from "./protocol.js";
import type { FetchResult, ParsedBatch, ParsedSubscribed } from "./sequencer-input.js";
import {
  bufferRecord,
  clearBuffer,
  dropBuffered,
  type EpochHint,
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

/** Bounds and time of a `Sequencer`. */
export interface SequencerOptions {
  /** Records buffered per stream ahead of the application (default 1000). */
  maxBuffered?: number;
  /** Largest fetch, in records (default 500, at most 10,000). */
  fetchLimit?: number;
  /** Most streams subscribed at once (default 1000). */
  maxStreams?: number;
  /** A fetch without a reply after this long is given up and retried (default 10 s). */
  fetchTimeoutMs?: number;
  /** Backoff between failed fetches (exponential, full jitter; default 0.5 s … 30 s). */
  retry?: RetryPolicy;
  /** Jitter source (default `Math.random`). */
  random?: RandomSource;
  /** The clock, in ms (default `Date.now`): inject one in tests. */
  now?: () => number;
}

/** What the binding has to do after an input: report an outcome, send a fetch, subscribe again. */
export interface SequencerStep {
  /** A subscription outcome to report (G6), also for an epoch change or a trim seen mid-stream. */
  outcome?: RecoveryOutcome;
  /**
   * The outcome moved the position back within its epoch (the log diverged): persist it even
   * below the stored offset.
   */
  rewound?: true;
  /**
   * The outcome did not recover: `judged` is the position the stream had (what the server
   * judged; null for none). Persist the outcome's position over it even where it is lower or of
   * another epoch — but only while the stored position is still that one (DESIGN §8).
   */
  correction?: { judged: Position | null };
  /** A fetch to send (G7); pass the same object back to `fetched` (or `fetchFailed`). */
  fetch?: FetchRequest;
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

/** The result of `delivered`: the position to persist and a fetch to send (the buffer has room). */
export interface DeliveredStep {
  position: Position;
  fetch?: FetchRequest;
}

/** The epochs a fetch checks when no live batch named another (shared, never changed). */
const NO_EPOCHS: ReadonlySet<Epoch> = new Set();
/**
 * At most this many epochs noted per stream from live batches (`StreamState.epochHints`). A
 * fetch reply settles them, so a well-behaved server needs one or two; a batch naming one more
 * is not noted, but a fetch sent after it still reads the store (`StreamState.unnotedBatches`):
 * a reply in an unnoted epoch goes to its head, with an `epoch` outcome.
 */
export const MAX_EPOCH_HINTS = 8;

const DEFAULTS = { maxBuffered: 1000, fetchLimit: 500, maxStreams: 1000, fetchTimeoutMs: 10_000 };

/**
 * The client's ordering and repair state machine for server → client events (G1–G3, G6, G7).
 * Pure: no I/O and no timers of its own; time comes from the injected clock, and the binding
 * calls `tick` at `nextWakeAt`.
 *
 * Per stream it keeps the position (the last offset whose handlers resolved), hands out
 * `last + 1` one record at a time (`next` / `delivered`, so delivery is serial per stream),
 * drops duplicates and buffers records that arrive ahead (bounded). Repair is one rule (DESIGN
 * §8): while the contiguously received offset is below the highest head the client knows (from
 * the subscribe reply, live batches, fetch replies, position checks), keep exactly one fetch
 * outstanding — with a timeout, and after a failure a backoff with jitter, for as long as the
 * stream is subscribed — and ask only when the buffer has room (the flow control). Live batches
 * of the stream's epoch only raise the known head and fill the buffer; a live batch of another
 * epoch moves nothing: one fetch (even when caught up) settles which log the store holds.
 *
 * @example
 * const seq = new Sequencer();
 * seq.track("room:1", null, "earliest");
 * seq.subscribed(frame);             // → { outcome, fetch? }
 * seq.receive(batch);                // → { fetch? } when the batch skips ahead
 * for (let r; (r = seq.next("room:1")); ) { await handle(r); seq.delivered("room:1", r.offset); }
 */
export class Sequencer {
  readonly #streams = new Map<StreamName, StreamState>();
  readonly #maxBuffered: number;
  readonly #fetchLimit: number;
  readonly #maxStreams: number;
  readonly #fetchTimeoutMs: number;
  readonly #retry: RetryPolicy;
  readonly #random: RandomSource;
  readonly #now: () => number;

  constructor(options: SequencerOptions = {}) {
    this.#maxBuffered = options.maxBuffered ?? DEFAULTS.maxBuffered;
    this.#fetchLimit = options.fetchLimit ?? DEFAULTS.fetchLimit;
    this.#maxStreams = options.maxStreams ?? DEFAULTS.maxStreams;
    this.#fetchTimeoutMs = options.fetchTimeoutMs ?? DEFAULTS.fetchTimeoutMs;
    this.#retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    assertPositiveInteger(this.#maxBuffered, "maxBuffered");
    assertPositiveInteger(this.#fetchLimit, "fetchLimit");
    if (this.#fetchLimit > MAX_READ_LIMIT) {
      throw new AssuredError("INVALID_ARGUMENT", `fetchLimit must be at most ${MAX_READ_LIMIT}.`);
    }
    assertPositiveInteger(this.#maxStreams, "maxStreams");
    assertPositiveInteger(this.#fetchTimeoutMs, "fetchTimeoutMs");
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
   */
  restart(stream: StreamName, position: Position | null, from: StartFrom): void {
    const s = this.#streams.get(stream);
    if (!s) return;
    if (position !== null) assertPosition(position);
    s.phase = "pending";
    s.from = from;
    s.position = position;
    s.inFlight = null;
    s.epoch = null;
    clearBuffer(s);
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

  /** The epoch of the stream's position (`position(stream)?.epoch` without a copy). */
  positionEpoch(stream: StreamName): Epoch | undefined {
    return this.#streams.get(stream)?.position?.epoch;
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
      clearBuffer(s);
    }
  }

  /**
   * Applies an `assured:subscribed` frame: sets (epoch, start), reports the outcome (G6),
   * buffers the first page it carries and pulls the rest up to its head.
   */
  subscribed(frame: ParsedSubscribed): SequencerStep {
    const s = this.#streams.get(frame.stream);
    if (!s) return {};
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
    // Records of another epoch say nothing of this log. (The buffer holds only records received
    // since this subscription was asked for: after a rewind, records of the new history.)
    if (s.epoch !== frame.epoch) s.buffer.clear();
    s.epoch = frame.epoch;
    s.phase = "active";
    s.fetch = null;
    s.epochHints.clear();
    s.unnotedBatches = 0;
    s.failures = 0;
    s.retryAt = null;
    s.knownHead = 0;
    rebuildIndexes(s);
    s.knownHead = Math.max(frame.head, s.highest, offset);
    for (const record of frame.records ?? []) bufferRecord(s, record, this.#maxBuffered);
    const outcome: RecoveryOutcome = {
      stream: s.stream,
      recovered: frame.recovered,
      position: { ...s.position },
    };
    if (frame.reason !== undefined) outcome.reason = frame.reason;
    const step: SequencerStep = { outcome };
    if (rewound) step.rewound = true;
    if (!frame.recovered) step.correction = { judged: old === null ? null : { ...old } };
    return this.#pull(s, step);
  }

  /**
   * Accepts a live batch: raises the known head, fills the buffer, pulls what is missing. A batch
   * of another epoch is noted for the next fetch to settle (it may come late, from a lost log).
   */
  receive(batch: ParsedBatch): SequencerStep {
    const s = this.#streams.get(batch.stream);
    const step: SequencerStep = {};
    if (!s || s.phase === "paused") return step;
    if (s.phase === "pending") {
      if (s.epoch !== batch.epoch) {
        s.buffer.clear();
        s.knownHead = 0;
        s.epoch = batch.epoch;
      }
      for (const record of batch.records) bufferRecord(s, record, this.#maxBuffered);
      return step;
    }
    const first = batch.records[0];
    if (first !== undefined && s.position !== null && s.position.epoch !== batch.epoch) {
      // Another epoch in a live batch is a hint, never a move: the batch may come late, from a
      // log the store has since lost, after the client was told of the new one. A fetch sent
      // now reads the store and settles which epoch the log is in (`fetched`).
      const start = first.offset - 1;
      const last = batch.records[batch.records.length - 1]!.offset;
      const known = s.epochHints.get(batch.epoch);
      if (known === undefined) {
        if (s.epochHints.size < MAX_EPOCH_HINTS) s.epochHints.set(batch.epoch, { start, last });
        else s.unnotedBatches++;
      } else {
        known.start = Math.min(known.start, start);
        known.last = Math.max(known.last, last);
      }
      return this.#pull(s, step);
    }
    if (this.#rewritten(s, batch.records)) return this.#diverge(s, step);
    for (const record of batch.records) bufferRecord(s, record, this.#maxBuffered);
    return this.#pull(s, step);
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
   * position to persist (and a fetch, now that the buffer has room), or undefined when the
   * record is stale (the stream was reset meanwhile).
   */
  delivered(stream: StreamName, offset: Offset): DeliveredStep | undefined {
    const s = this.#streams.get(stream);
    if (!s?.inFlight || s.inFlight.offset !== offset || !s.position) return undefined;
    const id = s.inFlight.id;
    s.inFlight = null;
    // The id goes with the offset (DESIGN §8): the server checks it on resume.
    s.position = { epoch: s.position.epoch, offset, id };
    const step = this.#pull(s, {});
    // A new object per delivery, never changed after: handed out as is.
    const result: DeliveredStep = { position: s.position };
    if (step.fetch) result.fetch = step.fetch;
    return result;
  }

  /**
   * A handler failed for `offset`: the position does not advance and the stream pauses (G1: no
   * later record may be delivered before it). It is delivered again after the stream is
   * subscribed again (`restart`, or the next reconnect).
   */
  failed(stream: StreamName, offset: Offset): void {
    const s = this.#streams.get(stream);
    if (!s?.inFlight || s.inFlight.offset !== offset) return;
    s.inFlight = null;
    s.phase = "paused";
    clearBuffer(s);
  }

  /**
   * Applies the reply to a fetch made by this sequencer (`request` is the object it returned).
   * A reply in another epoch is an `epoch` outcome; a range that was trimmed away meanwhile is a
   * `trimmed` outcome (the position moves to the head); a refusal (`ok: false`) is a failure,
   * retried after a backoff. A reply to a fetch that is no longer outstanding is ignored.
   */
  fetched(request: FetchRequest, reply: FetchResult): SequencerStep {
    const s = this.#streams.get(request.stream);
    const step: SequencerStep = {};
    if (!s || s.fetch?.request !== request) return step;
    const { checks, settlesUnnoted } = s.fetch;
    s.fetch = null;
    if (s.phase !== "active") return step;
    if (!reply.ok) return this.#failed(s, step);
    s.unnotedBatches = Math.max(0, s.unnotedBatches - settlesUnnoted);
    // Named by batches that arrived after this fetch was sent: a move of the stream below (an
    // outcome) must not drop them, the next fetch checks them.
    const later = [...s.epochHints].filter(([epoch]) => !checks.has(epoch));
    const laterUnnoted = s.unnotedBatches;
    // In an epoch a live batch named, the stream continues from just before the earliest such
    // batch (as far as the log still holds it); in any other, from the head, as for any fetch.
    const hinted = s.epochHints.get(reply.epoch);
    const start =
      hinted === undefined
        ? reply.head
        : Math.min(reply.head, Math.max(hinted.start, reply.earliest - 1));
    // The reply was read after the batches that named `checks` arrived: in the stream's epoch,
    // those were late ones from a lost log. Epochs named since wait for the next fetch.
    if (s.position?.epoch === reply.epoch) for (const epoch of checks) s.epochHints.delete(epoch);
    if (!this.#sameEpoch(s, reply.epoch, step, start)) {
      s.knownHead = Math.max(s.knownHead, reply.head);
      keepLater(s, later, laterUnnoted);
      return this.#pull(s, step);
    }
    // Offsets up to `after` had been received when the fetch was sent: a head below them, or
    // another id at the position, is a log rewritten under the stream.
    if (reply.head < request.after || this.#rewritten(s, reply.records)) {
      return this.#diverge(s, step);
    }
    const before = s.contiguous;
    for (const record of reply.records) bufferRecord(s, record, this.#maxBuffered);
    if (reply.head > s.knownHead) s.knownHead = reply.head;
    if (s.contiguous === handedOffset(s) && reply.earliest > s.contiguous + 1) {
      this.#jump(s, reply.epoch, reply.head, "trimmed", step);
      keepLater(s, later, laterUnnoted);
      return this.#pull(s, step);
    }
    // No progress (the store returned nothing new): back off rather than loop.
    if (s.contiguous <= before && s.contiguous < s.knownHead) return this.#failed(s, step);
    s.failures = 0;
    return this.#pull(s, step);
  }

  /** True while `request` is the stream's outstanding fetch (its reply is still wanted). */
  awaitsFetch(request: FetchRequest): boolean {
    return this.#streams.get(request.stream)?.fetch?.request === request;
  }

  /**
   * A fetch could not be sent or its reply could not be read: it is retried after a backoff
   * (for as long as the stream is subscribed).
   */
  fetchFailed(request: FetchRequest): void {
    const s = this.#streams.get(request.stream);
    if (s?.fetch?.request !== request) return;
    s.fetch = null;
    this.#failed(s, {});
  }

  /**
   * Advances time: outstanding fetches past their deadline are given up (and retried after a
   * backoff), and streams whose backoff ended fetch again. Returns the fetches to send.
   */
  tick(): SequencerStep[] {
    const now = this.#now();
    const steps: SequencerStep[] = [];
    for (const s of this.#streams.values()) {
      if (s.phase !== "active") continue;
      if (s.fetch !== null && now >= s.fetch.deadline) {
        s.fetch = null;
        this.#failed(s, {});
      }
      if (s.retryAt !== null && now >= s.retryAt) {
        s.retryAt = null;
        const step = this.#pull(s, {});
        if (step.fetch) steps.push(step);
      }
    }
    return steps;
  }

  /** When `tick` has something to do (a fetch deadline, the end of a backoff), or undefined. */
  nextWakeAt(): number | undefined {
    let at: number | undefined;
    for (const s of this.#streams.values()) {
      if (s.phase !== "active") continue;
      const t = s.fetch?.deadline ?? s.retryAt;
      if (t !== null && t !== undefined && (at === undefined || t < at)) at = t;
    }
    return at;
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
   * Applies a heads reply (the periodic position check, G7): it raises each stream's known
   * head — a trailing gap (the last live batch lost on a quiet stream) is then pulled like any
   * other; a stream in another epoch gets an `epoch` outcome. With `marks` (taken when the
   * request was sent), a stream whose subscription changed since then is skipped (the reply may
   * predate its outcome), and a head below an offset already handed out then, in the same
   * epoch, is a diverged log: the step asks to `resubscribe`.
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
      const step: SequencerStep = {};
      if (!this.#sameEpoch(s, h.epoch, step, h.head)) {
        steps.push(this.#pull(s, step));
        continue;
      }
      if (mark !== undefined && mark.epoch === h.epoch && h.head < mark.offset) {
        steps.push(this.#diverge(s, step));
        continue;
      }
      if (h.head > s.knownHead) s.knownHead = h.head;
      this.#pull(s, step);
      if (step.fetch) steps.push(step);
    }
    return steps;
  }

  // Returns true when `epoch` is the stream's epoch (or was adopted at offset 0); otherwise
  // jumps to (epoch, start) with an `epoch` outcome and returns false.
  #sameEpoch(s: StreamState, epoch: Epoch, step: SequencerStep, start: Offset): boolean {
    if (!s.position || s.position.epoch === epoch) return true;
    if (handedOffset(s) === 0 && s.buffer.size === 0) {
      // Offset 0 is valid in every epoch: a stream's first log gets its epoch here (and what
      // was known of the head of another log no longer counts). A fetch or a position check
      // sent before may have read the other log: their replies no longer count either.
      s.position = { epoch, offset: 0 };
      s.epoch = epoch;
      s.knownHead = 0;
      s.epochHints.delete(epoch);
      if (s.fetch !== null && s.fetch.request.epoch !== epoch) s.fetch = null;
      s.generation++;
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
    if (s.epoch !== epoch) s.buffer.clear();
    step.correction = { judged: s.position === null ? null : { ...s.position } };
    s.inFlight = null;
    s.position = { epoch, offset: start };
    s.epoch = epoch;
    s.fetch = null;
    s.epochHints.clear();
    s.unnotedBatches = 0;
    s.failures = 0;
    s.retryAt = null;
    s.knownHead = start;
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
    step.resubscribe = {
      stream: s.stream,
      position: s.position ? { ...s.position } : null,
      from: s.from,
    };
    return step;
  }

  // A fetch failed (timeout, refusal, no progress): the next one waits for a backoff.
  #failed(s: StreamState, step: SequencerStep): SequencerStep {
    s.failures++;
    s.retryAt = this.#now() + backoffDelay(s.failures, this.#retry, this.#random);
    return step;
  }

  // The one repair rule: while the contiguous offset is below the known head, keep one fetch
  // outstanding — asked only when the buffer has room (flow control): when the handlers have
  // records to work through, a buffer more than half full waits for them; when they have none
  // (a hole at the next offset), the furthest buffered records make room (they stay below the
  // known head, so they are fetched again).
  #pull(s: StreamState, step: SequencerStep): SequencerStep {
    if (s.phase !== "active" || s.fetch !== null || s.retryAt !== null) return step;
    // Caught up, a fetch is still sent to settle epoch hints (what the store holds now).
    const checks = s.epochHints.size === 0 ? NO_EPOCHS : new Set(s.epochHints.keys());
    if (s.contiguous >= s.knownHead && checks.size === 0 && s.unnotedBatches === 0) return step;
    const half = Math.floor(this.#maxBuffered / 2);
    if (s.buffer.size > half) {
      if (s.contiguous > handedOffset(s)) return step;
      const furthest = [...s.buffer.keys()].sort((a, b) => b - a);
      for (const offset of furthest) {
        if (s.buffer.size <= half) break;
        dropBuffered(s, offset);
      }
    }
    const room = this.#maxBuffered - s.buffer.size;
    // From offset 0 the reply carries records whatever the epoch: ask up to what batches showed.
    let head = s.knownHead;
    if (s.contiguous === 0)
      for (const hint of s.epochHints.values()) head = Math.max(head, hint.last);
    const request: FetchRequest = {
      stream: s.stream,
      epoch: s.position?.epoch ?? "",
      after: s.contiguous,
      limit: Math.max(1, Math.min(this.#fetchLimit, head - s.contiguous, room)),
    };
    s.fetch = {
      request,
      deadline: this.#now() + this.#fetchTimeoutMs,
      checks,
      settlesUnnoted: s.unnotedBatches,
    };
    step.fetch = request;
    return step;
  }
}

/**
 * Puts back, after a move of the stream, what batches that arrived after the settling fetch was
 * sent said (that fetch says nothing of them): the hints of other epochs, the unnoted batches,
 * and of the epoch moved to, how far its log reaches (fetched next).
 */
function keepLater(s: StreamState, later: [Epoch, EpochHint][], unnoted: number): void {
  for (const [epoch, hint] of later) {
    if (epoch === s.position?.epoch) s.knownHead = Math.max(s.knownHead, hint.last);
    else if (!s.epochHints.has(epoch)) s.epochHints.set(epoch, hint);
  }
  s.unnotedBatches = Math.max(s.unnotedBatches, unnoted);
}
