import {
  assertRetryPolicy,
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  type RandomSource,
  type RetryPolicy,
} from "./backoff.js";
import { type ClientStorage, memoryStorage } from "./client-storage.js";
import { conflictError } from "./dedup.js";
import { AssuredError, type AssuredErrorCode, type AssuredErrorData } from "./errors.js";
import { newId } from "./ids.js";
import {
  type MessageResult,
  type OutboxMessage,
  type OutboxRecord,
  OutboxStorage,
} from "./outbox-storage.js";
import type { MessageFrame } from "./protocol.js";
import { assertEventName, assertId, assertPayload, assertPositiveInteger } from "./validate.js";

/** Options of an `Outbox`. */
export interface OutboxOptions {
  /** Where the outbox persists (default: memory, nothing survives a reload). */
  storage?: ClientStorage;
  /** Prefix of every storage key (default `"assured:"`). */
  prefix?: string;
  /** The client id; default: the stored one, else a new one. */
  clientId?: string;
  /** Messages in flight at once (default 32). */
  window?: number;
  /** Unanswered messages kept at most; `add` beyond rejects with `LIMIT_EXCEEDED` (default 1000). */
  maxPending?: number;
  /** A message unanswered this long is sent again (default 10,000 ms). */
  ackTimeoutMs?: number;
  /** Backoff before a retry (default 500 ms doubling up to 30 s, full jitter). */
  retry?: RetryPolicy;
  /** Random source of the jitter (default `Math.random`). */
  random?: RandomSource;
  /** Results of finished messages kept (default 100). */
  maxResults?: number;
  /** How long results are kept (default 24 h). */
  resultTtlMs?: number;
  /**
   * Largest encoded payload `add` accepts, in bytes (default `DEFAULT_MAX_PAYLOAD_BYTES`, the
   * server's default limit). A larger message is refused before it is stored; one stored by an
   * earlier page life with a larger limit is finished with `PAYLOAD_TOO_LARGE` when loaded.
   */
  maxPayloadBytes?: number;
  /** Called when a background storage write fails or stored data was unreadable. */
  onStorageError?: (error: AssuredError) => void;
}

/** What an ack did: finished a message, scheduled a retry, or nothing (unknown or repeated id). */
export type AckOutcome =
  | { kind: "settled"; result: MessageResult }
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

interface UnsavedMessage {
  message: OutboxMessage;
  resolve(): void;
  reject(error: unknown): void;
}

interface Entry {
  message: OutboxMessage;
  inFlight: boolean;
  /** In flight: when the ack is overdue. Queued: when it may be sent. */
  at: number;
  failures: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The default largest message payload, in bytes: the server's default `maxPayloadBytes`, well
 * inside Socket.IO's default `maxHttpBufferSize` (1 MB), beyond which a packet drops the
 * connection instead of getting an answer.
 */
export const DEFAULT_MAX_PAYLOAD_BYTES = 512 * 1024;

/**
 * The client's persistent outbox (G8, G10), a state machine driven by explicit time: `add`
 * persists a message before it can be sent, `due(now)` gives the messages to send now (a window
 * of several in flight, in seq order), `acked` matches replies by id, timeouts and retryable
 * errors are retried with exponential backoff and full jitter, and everything unanswered is sent
 * again after a reconnect. `nextWakeAt()` tells the binding when to call `due` again, so one
 * timer serves the whole outbox. Finished results are kept (bounded, with a TTL) so a page can
 * read the results of messages sent before a reload.
 *
 * Order (G10): messages are sent in seq order; a message waiting for a retry holds back every
 * later message not yet sent, so only messages already in flight at that moment can overtake it.
 *
 * @example
 * const outbox = await Outbox.open({ storage });
 * await outbox.add("chat:send", encode({ text: "hi" }), Date.now());
 * outbox.connected();
 * for (const m of outbox.due(Date.now())) socket.emit("assured:msg", m, (r) => outbox.acked(r, Date.now()));
 */
export class Outbox {
  readonly #store: OutboxStorage;
  readonly #window: number;
  readonly #maxPending: number;
  readonly #ackTimeoutMs: number;
  readonly #retry: RetryPolicy;
  readonly #random: RandomSource;
  readonly #maxResults: number;
  readonly #resultTtlMs: number;
  readonly #maxPayloadBytes: number;
  readonly #onStorageError: (error: AssuredError) => void;
  readonly #pending = new Map<string, Entry>();
  readonly #results = new Map<string, MessageResult>();
  #clientId = "";
  #seq = 0;
  #adding = 0;
  /** Added messages waiting for the next flush (at most `maxPending`, counted in `#adding`). */
  readonly #unsaved: UnsavedMessage[] = [];
  /** Settled ids whose stored message the next flush removes. */
  readonly #settled: string[] = [];
  #resultsDirty = false;
  /** The flush waiting for its turn, which later changes join. */
  #flushQueued: Promise<void> | undefined;
  #online = false;
  #writes: Promise<void> = Promise.resolve();

  private constructor(options: OutboxOptions) {
    this.#store = new OutboxStorage(
      options.storage ?? memoryStorage(),
      options.prefix ?? "assured:",
    );
    this.#window = options.window ?? 32;
    this.#maxPending = options.maxPending ?? 1000;
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
    this.#retry = options.retry ?? { ...DEFAULT_RETRY_POLICY };
    this.#random = options.random ?? Math.random;
    this.#maxResults = options.maxResults ?? 100;
    this.#resultTtlMs = options.resultTtlMs ?? DAY_MS;
    this.#maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.#onStorageError = options.onStorageError ?? (() => {});
    assertPositiveInteger(this.#window, "window");
    assertPositiveInteger(this.#maxPending, "maxPending");
    assertPositiveInteger(this.#ackTimeoutMs, "ackTimeoutMs");
    assertRetryPolicy(this.#retry);
    assertPositiveInteger(this.#maxResults, "maxResults");
    assertPositiveInteger(this.#resultTtlMs, "resultTtlMs");
    assertPositiveInteger(this.#maxPayloadBytes, "maxPayloadBytes");
    if (typeof this.#random !== "function") {
      throw new AssuredError("INVALID_ARGUMENT", "random must be a function returning [0, 1).");
    }
  }

  /**
   * Opens the outbox: loads the client id, the seq counter, unanswered messages and recent
   * results from storage (a reload continues where the last page stopped).
   * @throws AssuredError `STORE_UNAVAILABLE` when the storage cannot be read.
   */
  static async open(options: OutboxOptions = {}, now: number = Date.now()): Promise<Outbox> {
    if (options.clientId !== undefined) assertId(options.clientId, "clientId");
    const outbox = new Outbox(options);
    await outbox.#load(options.clientId, now);
    return outbox;
  }

  async #load(clientId: string | undefined, now: number): Promise<void> {
    const report = this.#onStorageError;
    const record = await this.#store.readRecord(report);
    this.#clientId = clientId ?? record?.clientId ?? newId();
    this.#seq = record?.seq ?? 0;
    const messages: OutboxMessage[] = [];
    for (const id of record?.ids ?? []) {
      const message = await this.#store.readMessage(id, report);
      if (message) messages.push(message);
    }
    messages.sort((a, b) => a.seq - b.seq);
    const oversized: OutboxMessage[] = [];
    for (const message of messages) {
      this.#seq = Math.max(this.#seq, message.seq);
      if (message.payload.byteLength > this.#maxPayloadBytes) oversized.push(message);
      else this.#pending.set(message.id, { message, inFlight: false, at: 0, failures: 0 });
    }
    for (const result of await this.#store.readResults(report)) {
      this.#results.set(result.id, result);
    }
    this.#trimResults(now);
    // A message that can never be sent must not wait forever: it finishes with a final error.
    for (const { id, seq, name, payload } of oversized) {
      const error = payloadTooLarge(payload.byteLength, this.#maxPayloadBytes).toJSON();
      this.#settle({ id, seq, name, finishedAt: now, ok: false, error }, now);
    }
    if (!record || record.clientId !== this.#clientId)
      await this.#store.writeRecord(this.#record());
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
   * Adds a message. It is written to storage before it can be sent; the promise resolves then.
   * Adding an id that is still unanswered returns the existing message (the same name and
   * payload; anything else is `IDEMPOTENCY_CONFLICT`).
   * @throws AssuredError `LIMIT_EXCEEDED` when `maxPending` messages are unanswered;
   *   `STORE_UNAVAILABLE` when the storage write failed (the message is not sent).
   */
  async add(name: string, payload: Uint8Array, now: number, id?: string): Promise<OutboxMessage> {
    assertEventName(name);
    assertPayload(payload);
    if (id !== undefined) assertId(id, "message id");
    if (payload.byteLength > this.#maxPayloadBytes) {
      throw payloadTooLarge(payload.byteLength, this.#maxPayloadBytes);
    }
    const existing = id === undefined ? undefined : this.#pending.get(id);
    if (existing) {
      if (existing.message.name !== name || !sameBytes(existing.message.payload, payload)) {
        throw conflictError();
      }
      return existing.message;
    }
    if (this.#pending.size + this.#adding >= this.#maxPending) {
      throw new AssuredError(
        "LIMIT_EXCEEDED",
        `the outbox holds ${this.#maxPending} unanswered messages (maxPending); wait for answers.`,
      );
    }
    const message: OutboxMessage = {
      id: id ?? newId(),
      seq: ++this.#seq,
      name,
      payload,
      createdAt: now,
    };
    this.#adding++;
    try {
      await new Promise<void>((resolve, reject) => {
        this.#unsaved.push({ message, resolve, reject });
        this.#scheduleFlush();
      });
    } finally {
      this.#adding--;
    }
    return message;
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
   * overdue acks are retried after a backoff. Empty while disconnected.
   */
  due(now: number): MessageFrame[] {
    if (!this.#online) return [];
    const out: MessageFrame[] = [];
    let inFlight = 0;
    for (const entry of this.#pending.values()) {
      if (entry.inFlight) {
        if (entry.at > now) {
          if (++inFlight >= this.#window) break;
          continue;
        }
        this.#scheduleRetry(entry, now);
      }
      if (entry.at > now) break; // waiting for a retry: later messages wait too (G10)
      entry.inFlight = true;
      entry.at = now + this.#ackTimeoutMs;
      const { id, seq, name, payload } = entry.message;
      out.push({ id, seq, name, payload });
      if (++inFlight >= this.#window) break;
    }
    return out;
  }

  /** When `due` should be called next (an ack deadline or a retry), or null for "on input only". */
  nextWakeAt(): number | null {
    if (!this.#online) return null;
    let wake: number | null = null;
    let inFlight = 0;
    for (const entry of this.#pending.values()) {
      wake = wake === null ? entry.at : Math.min(wake, entry.at);
      if (!entry.inFlight || ++inFlight >= this.#window) break;
    }
    return wake;
  }

  /**
   * Applies a reply (`MessageReply`) from the server. A result, a stored application error or a
   * final protocol error finishes the message; a retryable error schedules a retry.
   */
  acked(reply: unknown, now: number): AckOutcome {
    if (typeof reply !== "object" || reply === null) return { kind: "ignored" };
    const r = reply as Record<string, unknown>;
    const entry = typeof r.id === "string" ? this.#pending.get(r.id) : undefined;
    if (!entry) return { kind: "ignored" };
    const { id, seq, name } = entry.message;
    const base = { id, seq, name, finishedAt: now };
    const payload = copyBytes(r.payload);
    if (r.ok === true && payload) {
      return this.#settle({ ...base, ok: true, payload }, now);
    }
    if (r.ok === false && r.stored === true && payload) {
      return this.#settle({ ...base, ok: false, stored: true, payload }, now);
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
    return this.#settle({ ...base, ok: false, error }, now);
  }

  /** Unanswered messages in seq order (also those from before a reload). */
  pending(): OutboxMessage[] {
    return [...this.#pending.values()].map((e) => e.message);
  }

  /** The result of a finished message, kept for `resultTtlMs` (also across reloads). */
  result(id: string, now: number = Date.now()): MessageResult | undefined {
    const result = this.#results.get(id);
    return result && now - result.finishedAt <= this.#resultTtlMs ? result : undefined;
  }

  /** Resolves when every storage write issued so far has finished. */
  flush(): Promise<void> {
    return this.#writes;
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
    entry.at = now + backoffDelay(entry.failures, this.#retry, this.#random);
  }

  #settle(result: MessageResult, now: number): AckOutcome {
    this.#pending.delete(result.id);
    this.#results.delete(result.id);
    this.#results.set(result.id, result);
    this.#trimResults(now);
    this.#settled.push(result.id);
    this.#resultsDirty = true;
    this.#scheduleFlush();
    return { kind: "settled", result };
  }

  /**
   * Storage writes are coalesced: everything added or settled while a flush waits for its turn
   * goes into that flush — each new message, then the results and the head record once, then
   * the removal of settled messages. So a burst of N messages costs N message writes and a few
   * record writes, not N writes of an N-long id list (G11; the record is O(pending)).
   */
  #scheduleFlush(): void {
    this.#flushQueued ??= this.#write(() => this.#runFlush());
  }

  async #runFlush(): Promise<void> {
    this.#flushQueued = undefined;
    const unsaved = this.#unsaved.splice(0);
    const settled = this.#settled.splice(0);
    const resultsDirty = this.#resultsDirty;
    this.#resultsDirty = false;
    const saved: UnsavedMessage[] = [];
    for (const item of unsaved) {
      try {
        await this.#store.writeMessage(item.message);
        saved.push(item);
      } catch (error) {
        item.reject(error);
      }
    }
    try {
      if (resultsDirty) await this.#store.writeResults(this.#results.values());
      const ids = [...this.#pending.keys(), ...saved.map((item) => item.message.id)];
      await this.#store.writeRecord({ clientId: this.#clientId, seq: this.#seq, ids });
    } catch (error) {
      for (const item of saved) item.reject(error);
      // The settled part is written again with the next flush.
      this.#settled.unshift(...settled);
      this.#resultsDirty ||= resultsDirty;
      if (settled.length > 0 || resultsDirty) this.#onStorageError(toAssured(error));
      return;
    }
    // Stored with the record: now they may be sent (G8).
    for (const { message, resolve } of saved) {
      this.#pending.set(message.id, { message, inFlight: false, at: 0, failures: 0 });
      resolve();
    }
    for (const id of settled) {
      await this.#store.removeMessage(id).catch((error) => this.#onStorageError(toAssured(error)));
    }
  }

  #trimResults(now: number): void {
    for (const [id, result] of this.#results) {
      if (this.#results.size <= this.#maxResults && now - result.finishedAt <= this.#resultTtlMs) {
        break;
      }
      this.#results.delete(id);
    }
  }

  #record(): OutboxRecord {
    return { clientId: this.#clientId, seq: this.#seq, ids: [...this.#pending.keys()] };
  }

  // Storage writes run one at a time, in call order; one failure does not stop later writes.
  #write(task: () => Promise<void>): Promise<void> {
    const run = this.#writes.then(task);
    this.#writes = run.catch(() => {});
    return run;
  }
}

/** A plain copy of binary data: a Buffer in Node, an ArrayBuffer in browsers. */
function copyBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(
      value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength),
    );
  }
  return undefined;
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

function toAssured(error: unknown): AssuredError {
  return error instanceof AssuredError
    ? error
    : new AssuredError("STORE_UNAVAILABLE", "client storage write failed.", { cause: error });
}
