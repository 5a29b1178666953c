import { backoffDelay } from "./backoff.js";
import { conflictError } from "./dedup.js";
import { AssuredError, type AssuredErrorCode, type AssuredErrorData } from "./errors.js";
import { newId, newMessageId } from "./ids.js";
import { holdLock, type OrphanContents, SessionAdoption } from "./outbox-adoption.js";
import { type OutboxConfig, type OutboxOptions, outboxConfig } from "./outbox-options.js";
import { SessionStore } from "./outbox-session-store.js";
import type { MessageResult, OutboxMessage, ReceivedResult } from "./outbox-storage.js";
import { type NewMessage, SessionWriter } from "./outbox-writer.js";
import type { MessageFrame } from "./protocol.js";
import { assertEventName, assertId, assertPayload } from "./validate.js";

/** What an ack did: finished a message, scheduled a retry, or nothing (unknown or repeated id). */
export type AckOutcome =
  | { kind: "settled"; result: ReceivedResult }
  | { kind: "retry"; id: string; error: AssuredErrorData; at: number }
  | { kind: "ignored" };

/** Protocol failures the outbox retries with backoff; every other failure is final. */
export const RETRYABLE_CODES: readonly AssuredErrorCode[] = [
  "RATE_LIMITED",
  "STORE_UNAVAILABLE",
  "TIMEOUT",
  "LIMIT_EXCEEDED",
  "OUT_OF_ORDER",
];

interface Entry {
  message: OutboxMessage;
  inFlight: boolean;
  /** In flight: when the ack is overdue. Queued: when it may be sent. */
  at: number;
  failures: number;
}

interface Staged {
  message: NewMessage;
  /** The write of the message's group, and the message's place in it. */
  group: Promise<OutboxMessage[]>;
  index: number;
}

/**
 * The client's persistent outbox (G8, G10), a state machine driven by explicit time: `add`
 * persists a message before it can be sent, `due(now)` gives the messages to send now (a window
 * of several in flight, in seq order), `acked` matches replies by id, timeouts and retryable
 * errors are retried with exponential backoff and full jitter, and everything unanswered is sent
 * again after a reconnect. `nextWakeAt()` tells the binding when to call `due` again, so one
 * timer serves the whole outbox. Finished results are stored per message (bounded, with a TTL)
 * so any tab, or a page after a reload, can read them with `result`.
 *
 * Sessions (DESIGN §8, one outbox owner per storage): several outboxes may share one storage
 * (browser tabs, clients in one process). Each instance owns a session for its lifetime — its
 * own record and its own dense seq sequence 1, 2, 3… — held by a lock (`locks`). When an owner
 * closes or dies, a live outbox (or the next one to open) adopts the session's unanswered
 * messages into its own session with new seqs, and calls `onChange`. Call `close()` when done.
 *
 * Order (G10): messages are sent in seq order; a message waiting for a retry holds back every
 * later message not yet sent, so only messages already in flight at that moment can overtake it.
 * Seqs that reach the wire are dense per session: a seq is given only to a stored message, and
 * `firstSeq()` tells the server where the session starts.
 *
 * @example
 * const outbox = await Outbox.open({ storage, onChange: () => pump() });
 * await outbox.add("chat:send", encode({ text: "hi" }), Date.now());
 * outbox.connected(); // after a handshake carrying outbox.firstSeq()
 * for (const m of outbox.due(Date.now())) socket.emit("assured:msg", m, (r) => outbox.acked(r, Date.now()));
 * await outbox.close();
 */
export class Outbox {
  readonly #c: OutboxConfig;
  readonly #store: SessionStore;
  readonly #sid: string;
  readonly #writer: SessionWriter;
  readonly #adoption: SessionAdoption;
  readonly #pending = new Map<string, Entry>();
  /** Results received by this outbox (in full, also those too large to store), oldest first. */
  readonly #results = new Map<string, MessageResult>();
  /** Added messages not stored yet, by id. */
  readonly #staging = new Map<string, Staged>();
  #clientId = "";
  #online = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** The time of `open` while it runs; afterwards adoption reads `clock`. */
  #openedAt: number | undefined;
  #release: () => void = () => {};

  private constructor(config: OutboxConfig, now: number) {
    this.#c = config;
    this.#openedAt = now;
    this.#store = new SessionStore(config.storage, config.prefix);
    const sid = newId();
    this.#sid = sid;
    this.#writer = new SessionWriter({
      store: this.#store,
      sid,
      maxResultBytes: config.maxResultBytes,
      maxResults: config.maxResults,
      resultTtlMs: config.resultTtlMs,
      report: config.onStorageError,
      onStored: (message) => {
        this.#pending.set(message.id, { message, inFlight: false, at: 0, failures: 0 });
      },
    });
    this.#adoption = new SessionAdoption({
      store: this.#store,
      locks: config.locks,
      sid,
      host: { absorb: (contents) => this.#absorb(contents) },
      channel: config.channel(this.#store.channelName),
      timers: config.timers,
      intervalMs: config.adoptIntervalMs,
      graceMs: config.adoptGraceMs,
      retry: config.retry,
      random: config.random,
      report: config.onStorageError,
    });
  }

  /**
   * Opens an outbox with a new session: takes the session's lock, loads (or creates) the
   * client id, and adopts the unanswered messages and results of every session of the storage
   * whose owner is gone (a reload continues where the last page stopped) and of layout v1.
   * Sessions still locked are waited for up to `adoptGraceMs` (the lock of a page that just
   * closed may be released a moment late): those released meanwhile are adopted before `open`
   * resolves, so their messages keep lower seqs than this outbox's own; the others are alive.
   * @throws AssuredError `INVALID_ARGUMENT` for a bad option; `STORE_UNAVAILABLE` when the
   *   storage cannot be read or written.
   */
  static async open(options: OutboxOptions = {}, now: number = Date.now()): Promise<Outbox> {
    const outbox = new Outbox(outboxConfig(options), now);
    try {
      outbox.#release = await holdLock(outbox.#c.locks, outbox.#store.sessionLock(outbox.#sid));
      outbox.#clientId = await outbox.#adoption.start(outbox.#c.clientId);
    } catch (error) {
      outbox.#closed = true;
      outbox.#adoption.stop();
      await outbox.#writer.flush();
      outbox.#release();
      throw error;
    }
    outbox.#openedAt = undefined;
    return outbox;
  }

  /** The client id (stable per storage): the default dedup principal on the server. */
  get clientId(): string {
    return this.#clientId;
  }

  /** Number of unanswered messages. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * The lowest seq of this session still unanswered, or the next seq it will use when none
   * waits: the handshake's `firstSeq`. The server refuses (`OUT_OF_ORDER`) a seq that skips an
   * unanswered earlier one, so send it with every (re)connect.
   */
  firstSeq(): number {
    const first = this.#pending.values().next().value;
    return first === undefined ? this.#writer.seq + 1 : first.message.seq;
  }

  /**
   * Adds a message. It is written to storage before it can be sent; the promise resolves then,
   * with the message and its final seq. Adding an id that is still unanswered returns that
   * message (the same name and payload; anything else is `IDEMPOTENCY_CONFLICT`).
   * @throws AssuredError `LIMIT_EXCEEDED` when `maxPending` messages are unanswered;
   *   `STORE_UNAVAILABLE` when the storage write failed (the message is not sent and used no
   *   seq; later adds are not affected); `CLOSED` after `close()`.
   */
  async add(name: string, payload: Uint8Array, now: number, id?: string): Promise<OutboxMessage> {
    assertEventName(name);
    assertPayload(payload);
    if (id !== undefined) assertId(id, "message id");
    if (this.#closed) throw closedError();
    if (payload.byteLength > this.#c.maxPayloadBytes) {
      throw payloadTooLarge(payload.byteLength, this.#c.maxPayloadBytes);
    }
    const existing =
      id === undefined
        ? undefined
        : (this.#pending.get(id)?.message ?? this.#staging.get(id)?.message);
    if (existing) {
      if (existing.name !== name || !sameBytes(existing.payload, payload)) throw conflictError();
      const pending = this.#pending.get(existing.id);
      if (pending) return pending.message;
      const staged = this.#staging.get(existing.id) as Staged;
      return staged.group.then((stored) => stored[staged.index]!);
    }
    if (this.#pending.size + this.#staging.size >= this.#c.maxPending) {
      throw new AssuredError(
        "LIMIT_EXCEEDED",
        `the outbox holds ${this.#c.maxPending} unanswered messages (maxPending); wait for answers.`,
      );
    }
    const [message] = await this.#stage(
      [{ id: id ?? newMessageId(now), name, payload, createdAt: now }],
      false,
    );
    return message!;
  }

  /** The connection is up: `due` starts returning messages. */
  connected(): void {
    this.#online = true;
  }

  /** The connection dropped: every unanswered message is sent again, in seq order, on reconnect. */
  disconnected(): void {
    this.#online = false;
    for (const entry of this.#pending.values()) {
      entry.inFlight = false;
      entry.at = 0;
    }
  }

  /**
   * The messages to send now, in seq order, marked in flight: at most `window` in flight;
   * overdue acks are retried after a backoff. Each frame carries its `age` (and `ttl` when
   * `messageTtlMs` is set). Empty while disconnected or after `close()`.
   */
  due(now: number): MessageFrame[] {
    if (!this.#online || this.#closed) return [];
    const out: MessageFrame[] = [];
    let inFlight = 0;
    /** The seq of the previous unanswered message: the frame's `prev` (send order, G10). */
    let previous: number | undefined;
    for (const entry of this.#pending.values()) {
      const prev = previous;
      previous = entry.message.seq;
      if (entry.inFlight) {
        if (entry.at > now) {
          if (++inFlight >= this.#c.window) break;
          continue;
        }
        this.#scheduleRetry(entry, now);
      }
      if (entry.at > now) break; // waiting for a retry: later messages wait too (G10)
      entry.inFlight = true;
      entry.at = now + this.#c.ackTimeoutMs;
      const { id, seq, name, payload, createdAt } = entry.message;
      const frame: MessageFrame = { id, seq, name, payload, age: Math.max(0, now - createdAt) };
      if (prev !== undefined) frame.prev = prev;
      if (this.#c.messageTtlMs !== undefined) frame.ttl = this.#c.messageTtlMs;
      out.push(frame);
      if (++inFlight >= this.#c.window) break;
    }
    return out;
  }

  /** When `due` should be called next (an ack deadline or a retry), or null for "on input only". */
  nextWakeAt(): number | null {
    if (!this.#online || this.#closed) return null;
    let wake: number | null = null;
    let inFlight = 0;
    for (const entry of this.#pending.values()) {
      wake = wake === null ? entry.at : Math.min(wake, entry.at);
      if (!entry.inFlight || ++inFlight >= this.#c.window) break;
    }
    return wake;
  }

  /**
   * Applies a reply (`MessageReply`) from the server. A result, a stored application error or a
   * final protocol error finishes the message; a retryable error schedules a retry. Ignored
   * after `close()` (the message stays stored for the session's adopter).
   */
  acked(reply: unknown, now: number): AckOutcome {
    if (this.#closed || typeof reply !== "object" || reply === null) return { kind: "ignored" };
    const r = reply as Record<string, unknown>;
    const entry = typeof r.id === "string" ? this.#pending.get(r.id) : undefined;
    if (!entry) return { kind: "ignored" };
    const { id, seq, name } = entry.message;
    const finishedAt = now;
    // Results are object literals, not spreads of a common base: a spread costs microseconds
    // per reply on V8, more than the rest of this method.
    const payload = copyBytes(r.payload);
    if (r.ok === true && payload) {
      return this.#settle({ id, seq, name, finishedAt, ok: true, payload }, now);
    }
    if (r.ok === false && r.stored === true && payload) {
      return this.#settle({ id, seq, name, finishedAt, ok: false, stored: true, payload }, now);
    }
    const error =
      r.ok === false && typeof r.error === "object" && r.error !== null
        ? AssuredError.fromJSON(r.error).toJSON()
        : { code: "BAD_FRAME" as const, message: "malformed reply to a message from the server" };
    if (RETRYABLE_CODES.includes(error.code)) {
      if (this.#waitsForEarlier(error)) {
        // Refused only to keep send order behind an earlier message (G10): it goes right after
        // that one, without a backoff of its own (`due` never sends it first).
        entry.inFlight = false;
        entry.at = 0;
        return { kind: "retry", id, error, at: 0 };
      }
      this.#scheduleRetry(entry, now);
      return { kind: "retry", id, error, at: entry.at };
    }
    return this.#settle({ id, seq, name, finishedAt, ok: false, error }, now);
  }

  /** Unanswered messages of this session in seq order (also those adopted from earlier ones). */
  pending(): OutboxMessage[] {
    return [...this.#pending.values()].map((e) => e.message);
  }

  /**
   * The result of a finished message, kept for `resultTtlMs`: from this outbox's memory, else
   * from storage (so any tab, or a later page life, can ask). A result too large to store reads
   * as `{ ok: true, omitted: true }` (or `{ ok: false, stored: true, omitted: true }`) outside
   * the outbox that received it.
   * @throws AssuredError `STORE_UNAVAILABLE` when the storage cannot be read.
   */
  async result(id: string, now: number = Date.now()): Promise<MessageResult | undefined> {
    const result =
      this.#results.get(id) ?? (await this.#store.readResult(id, this.#c.onStorageError));
    return result && now - result.finishedAt <= this.#c.resultTtlMs ? result : undefined;
  }

  /** Resolves when every storage write issued so far (and every adoption under way) has finished. */
  async flush(): Promise<void> {
    await this.#adoption.idle();
    await this.#writer.flush();
  }

  /**
   * Ends the session: stops adopting (cancels its queued requests on other sessions' locks, so
   * they keep no closed outbox referenced), waits for storage writes, then releases the
   * session's lock, so a live outbox (or the next to open) adopts what is still unanswered. Afterwards
   * `add` rejects with `CLOSED`, `due` is empty and replies are ignored. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      this.#adoption.stop();
      try {
        await this.flush();
      } finally {
        this.#release();
      }
    })();
    return this.#closing;
  }

  /**
   * Stores messages (all or none); until then they are staged (counted, never sent). One
   * reaction per group, none per message: this runs for every `add`.
   */
  #stage(messages: NewMessage[], adopted: boolean): Promise<OutboxMessage[]> {
    const group = this.#writer.add(messages, adopted);
    messages.forEach((message, index) => {
      this.#staging.set(message.id, { message, group, index });
    });
    const done = () => {
      for (const { id } of messages) {
        if (this.#staging.get(id)?.group === group) this.#staging.delete(id);
      }
    };
    group.then(done, done);
    return group;
  }

  /** Takes over what an orphaned session held (see `SessionAdoption`). */
  async #absorb(contents: OrphanContents): Promise<boolean> {
    const now = this.#openedAt ?? this.#c.clock();
    const writer = this.#writer;
    if (contents.results.length > 0) writer.mergeResults(contents.results, now);
    for (const id of contents.finished) {
      // Its key is this outbox's own when the same id is pending here again.
      if (!this.#pending.has(id) && !this.#staging.has(id)) writer.forgetMessage(id, now);
    }
    for (const result of contents.imported) this.#finish(result, now);
    const adds: NewMessage[] = [];
    for (const { id, seq, name, payload, createdAt } of contents.messages) {
      if (this.#pending.has(id) || this.#staging.has(id) || this.#results.has(id)) continue;
      if (payload.byteLength > this.#c.maxPayloadBytes) {
        // A message that can never be sent must not wait forever: it finishes with a final error.
        const error = payloadTooLarge(payload.byteLength, this.#c.maxPayloadBytes).toJSON();
        this.#finish({ id, seq, name, finishedAt: now, ok: false, error }, now);
        continue;
      }
      adds.push({ id, name, payload, createdAt });
    }
    const version = writer.version;
    // All or none: a message re-added here must not stay listed by an orphan someone else adopts.
    const stored =
      adds.length === 0
        ? true
        : await this.#stage(adds, true).then(
            () => true,
            () => false,
          );
    await writer.flush();
    // Checked now: an adoption that began while opening may end after `open` resolved.
    if (stored && adds.length > 0 && this.#openedAt === undefined && !this.#closed) {
      try {
        this.#c.onChange();
      } catch {
        // The callback must not throw; a failure there must not undo the adoption.
      }
    }
    return stored && writer.savedVersion >= version;
  }

  /** True when the server refused a message to wait for an earlier one this outbox still holds. */
  #waitsForEarlier(error: AssuredErrorData): boolean {
    const waitingFor = error.details?.waitingForSeq;
    if (typeof waitingFor !== "number") return false;
    const oldest = this.#pending.values().next().value;
    return oldest !== undefined && oldest.message.seq <= waitingFor;
  }

  #scheduleRetry(entry: Entry, now: number): void {
    entry.failures++;
    entry.inFlight = false;
    entry.at = now + backoffDelay(entry.failures, this.#c.retry, this.#c.random);
  }

  #settle(result: ReceivedResult, now: number): AckOutcome {
    this.#pending.delete(result.id);
    this.#finish(result, now);
    return { kind: "settled", result };
  }

  /** Keeps a result (in memory in full, in storage within `maxResultBytes`). */
  #finish(result: MessageResult, now: number): void {
    this.#results.delete(result.id);
    this.#results.set(result.id, result);
    for (const [id, kept] of this.#results) {
      if (
        this.#results.size <= this.#c.maxResults &&
        now - kept.finishedAt <= this.#c.resultTtlMs
      ) {
        break;
      }
      this.#results.delete(id);
    }
    this.#writer.settle(result, now);
  }
}

/**
 * A plain copy of binary data (a Buffer in Node, an ArrayBuffer in browsers), sharing no memory
 * with the frame it came in. Copied into a new `Uint8Array`: V8 keeps a small one on its heap,
 * where `ArrayBuffer.slice` always allocates outside it (about 15 times slower for a short reply).
 */
function copyBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  if (!ArrayBuffer.isView(value)) return undefined;
  const copy = new Uint8Array(value.byteLength);
  copy.set(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
  return copy;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function payloadTooLarge(bytes: number, limit: number): AssuredError {
  return new AssuredError(
    "PAYLOAD_TOO_LARGE",
    `message payload is ${bytes} bytes; the limit (maxPayloadBytes) is ${limit}. Send less data per message.`,
  );
}

function closedError(): AssuredError {
  return new AssuredError("CLOSED", "the outbox is closed.");
}
