import type { ClientStorage, StorageWrite } from "./client-storage.js";
import type { AssuredError } from "./errors.js";
import {
  corrupt,
  decodeMessage,
  decodeResult,
  encodeMessage,
  encodeResult,
  isObject,
  type MessageResult,
  type OutboxMessage,
  resultMarker,
  storageError,
} from "./outbox-storage.js";

/**
 * Where the outbox keeps its state in a `ClientStorage` shared by every tab (layout v2; all
 * values JSON):
 * - `<prefix>client` → `{ clientId }`: the client id, shared by every session of the storage;
 * - `<prefix>sessions` → `[sessionId, …]`: the sessions that may hold messages, changed only
 *   under the lock `assured:<prefix>index`;
 * - `<prefix>session:<sid>` → `{ v: 2, seq, ids, results }`: one session (one `Outbox` instance,
 *   alive while its lock `assured:<prefix>session:<sid>` is held): the last seq it used, the ids
 *   of its unanswered messages in seq order and `[id, finishedAt]` of its stored results, oldest
 *   first;
 * - `<prefix>msg:<id>` → `{ id, seq, name, payload, createdAt, session }`: one unanswered message;
 * - `<prefix>result:<id>` → a `MessageResult` (payload as base64, or `omitted: true`).
 *
 * Layout v1 (one `<prefix>outbox` record and one `<prefix>results` array) is read once and
 * migrated (`outbox-legacy.ts`).
 */

/** The stored record of one session. */
export interface SessionRecord {
  /** The last seq the session gave a stored message (0: none yet). */
  seq: number;
  /** Unanswered message ids, in seq order. */
  ids: string[];
  /** `[id, finishedAt]` of the session's stored results, oldest first. */
  results: Array<[string, number]>;
}

/** A `SessionRecord` with each id and each result entry as its JSON text. */
export interface SessionRecordJson {
  seq: number;
  ids: string[];
  results: string[];
}

type Report = (error: AssuredError) => void;

/** Typed reads and writes of the layout above. */
export class SessionStore {
  readonly #storage: ClientStorage;
  /** The storage key prefix. */
  readonly prefix: string;

  constructor(storage: ClientStorage, prefix: string) {
    this.#storage = storage;
    this.prefix = prefix;
  }

  get clientKey(): string {
    return `${this.prefix}client`;
  }

  get indexKey(): string {
    return `${this.prefix}sessions`;
  }

  sessionKey(sid: string): string {
    return `${this.prefix}session:${sid}`;
  }

  messageKey(id: string): string {
    return `${this.prefix}msg:${id}`;
  }

  resultKey(id: string): string {
    return `${this.prefix}result:${id}`;
  }

  /** The lock held while the index is read, changed and written. */
  get indexLock(): string {
    return `assured:${this.prefix}index`;
  }

  /** The lock a session's owner holds for its lifetime. */
  sessionLock(sid: string): string {
    return `assured:${this.prefix}session:${sid}`;
  }

  /** The `BroadcastChannel` on which outboxes announce new sessions. */
  get channelName(): string {
    return `assured:${this.prefix}`;
  }

  /**
   * The JSON at `key`, or undefined when absent. Unparsable data is reported (`CODEC_ERROR`)
   * and read as absent; a failing backend throws `STORE_UNAVAILABLE`.
   */
  async read(key: string, report: Report): Promise<unknown> {
    const text = await this.readText(key);
    if (text === null) return undefined;
    try {
      return JSON.parse(text);
    } catch (error) {
      report(corrupt(key, error));
      return undefined;
    }
  }

  /** The raw text at `key`, or null. @throws AssuredError `STORE_UNAVAILABLE`. */
  async readText(key: string): Promise<string | null> {
    try {
      return await this.#storage.get(key);
    } catch (error) {
      throw storageError("read", key, error);
    }
  }

  async readClientId(report: Report): Promise<string | undefined> {
    const raw = await this.read(this.clientKey, report);
    if (raw === undefined) return undefined;
    if (isObject(raw) && typeof raw.clientId === "string" && raw.clientId.length > 0) {
      return raw.clientId;
    }
    report(corrupt(this.clientKey));
    return undefined;
  }

  async readIndex(report: Report): Promise<string[]> {
    const raw = await this.read(this.indexKey, report);
    if (raw === undefined) return [];
    if (Array.isArray(raw) && raw.every((sid) => typeof sid === "string")) return raw;
    report(corrupt(this.indexKey));
    return [];
  }

  async readSession(sid: string, report: Report): Promise<SessionRecord | undefined> {
    const key = this.sessionKey(sid);
    const raw = await this.read(key, report);
    if (raw === undefined) return undefined;
    if (
      isObject(raw) &&
      Number.isSafeInteger(raw.seq) &&
      isStringArray(raw.ids) &&
      Array.isArray(raw.results) &&
      raw.results.every(isResultEntry)
    ) {
      return { seq: raw.seq as number, ids: raw.ids, results: raw.results };
    }
    report(corrupt(key));
    return undefined;
  }

  /** One stored message; undefined when missing or unreadable (reported). */
  async readMessage(id: string, report: Report): Promise<OutboxMessage | undefined> {
    const key = this.messageKey(id);
    const raw = await this.read(key, report);
    if (raw === undefined) return undefined;
    try {
      return decodeMessage(raw, id);
    } catch (error) {
      report(corrupt(key, error));
      return undefined;
    }
  }

  /** One stored result; undefined when missing or unreadable (reported). */
  async readResult(id: string, report: Report): Promise<MessageResult | undefined> {
    const key = this.resultKey(id);
    const raw = await this.read(key, report);
    if (raw === undefined) return undefined;
    const result = decodeResult(raw);
    if (result?.id === id) return result;
    report(corrupt(key));
    return undefined;
  }

  clientWrite(clientId: string): StorageWrite {
    return { key: this.clientKey, value: JSON.stringify({ clientId }) };
  }

  indexWrite(sessions: readonly string[]): StorageWrite {
    return { key: this.indexKey, value: JSON.stringify(sessions) };
  }

  /**
   * The write of a session record whose ids and result entries are given as their JSON: the
   * record is rewritten at every flush with mostly the same entries, so the writer keeps each
   * entry's JSON instead of serializing hundreds of them again (`JSON.stringify` of the whole
   * record cost several times more).
   */
  sessionWrite(sid: string, record: SessionRecordJson): StorageWrite {
    const ids = record.ids.join(",");
    const results = record.results.join(",");
    const value = `{"v":2,"seq":${record.seq},"ids":[${ids}],"results":[${results}]}`;
    return { key: this.sessionKey(sid), value };
  }

  messageWrite(message: OutboxMessage, sid: string): StorageWrite {
    return { key: this.messageKey(message.id), value: encodeMessage(message, sid) };
  }

  /** The write of a result, its payload left out beyond `maxBytes`. */
  resultWrite(result: MessageResult, maxBytes: number): StorageWrite & { omitted: boolean } {
    const { value, omitted } = encodeResult(result, maxBytes);
    return { key: this.resultKey(result.id), value, omitted };
  }

  /** The write of the smallest form of a result: that it finished, without its value. */
  markerWrite(result: MessageResult): StorageWrite {
    return { key: this.resultKey(result.id), value: resultMarker(result) };
  }

  /**
   * Applies writes: atomically with `batch` when the storage has it, else one at a time in the
   * given order (stopping at the first failure), so callers order them to be safe after a crash.
   * @throws AssuredError `STORE_UNAVAILABLE` naming the key that failed.
   */
  async commit(writes: readonly StorageWrite[]): Promise<void> {
    if (writes.length === 0) return;
    const plain = writes.map(({ key, value }) => ({ key, value }));
    if (this.#storage.batch) {
      try {
        await this.#storage.batch(plain);
      } catch (error) {
        throw storageError("write", plain.map((w) => w.key).join(", "), error);
      }
      return;
    }
    for (const { key, value } of plain) {
      try {
        if (value === null) await this.#storage.remove(key);
        else await this.#storage.set(key, value);
      } catch (error) {
        throw storageError(value === null ? "remove" : "write", key, error);
      }
    }
  }

  /** Deletes a key. @throws AssuredError `STORE_UNAVAILABLE`. */
  async remove(key: string): Promise<void> {
    try {
      await this.#storage.remove(key);
    } catch (error) {
      throw storageError("remove", key, error);
    }
  }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

function isResultEntry(value: unknown): value is [string, number] {
  return (
    Array.isArray(value) &&
    value.length === 2 &&
    typeof value[0] === "string" &&
    typeof value[1] === "number"
  );
}
