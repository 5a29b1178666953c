import type { ClientStorage } from "./client-storage.js";
import { AssuredError, type AssuredErrorData } from "./errors.js";
import type { ClientMessage } from "./types.js";

/**
 * How the outbox lays out its state in a `ClientStorage` (all JSON, payload bytes as base64):
 * - `<prefix>outbox` → `{ v: 1, clientId, seq, ids }`: the client id, the last seq used and the
 *   ids of unanswered messages in seq order;
 * - `<prefix>msg:<id>` → `{ id, seq, name, payload, createdAt }`: one unanswered message;
 * - `<prefix>results` → `[{ id, seq, name, ok, stored?, payload?, error?, finishedAt }]`: recent
 *   results, oldest first.
 */

/** A message waiting in the outbox. */
export interface OutboxMessage extends ClientMessage {
  /** When it was added (ms since the Unix epoch). */
  createdAt: number;
}

/** The final answer to a message (G9): the handler's result, its stored error, or a protocol error. */
export type MessageResult = {
  id: string;
  seq: number;
  name: string;
  /** When the answer arrived (ms since the Unix epoch). */
  finishedAt: number;
} & (
  | { ok: true; payload: Uint8Array }
  | { ok: false; stored: true; payload: Uint8Array }
  | { ok: false; stored?: false; error: AssuredErrorData }
);

/** The persisted head record of the outbox. */
export interface OutboxRecord {
  clientId: string;
  seq: number;
  ids: string[];
}

const CHUNK = 0x8000;

/** Base64 of bytes, without Node's Buffer (browser-safe). */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary);
}

/** Bytes of a base64 string. */
export function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function corrupt(key: string, cause?: unknown): AssuredError {
  return new AssuredError(
    "CODEC_ERROR",
    `client storage key ${JSON.stringify(key)} holds data the outbox cannot read; it was ignored.`,
    cause === undefined ? {} : { cause },
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

async function readJson(storage: ClientStorage, key: string): Promise<unknown> {
  let text: string | null;
  try {
    text = await storage.get(key);
  } catch (error) {
    throw storageError("read", key, error);
  }
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw corrupt(key, error);
  }
}

/** Wraps a failure of the storage backend as `STORE_UNAVAILABLE`. */
export function storageError(operation: string, key: string, error: unknown): AssuredError {
  if (error instanceof AssuredError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new AssuredError(
    "STORE_UNAVAILABLE",
    `client storage could not ${operation} ${JSON.stringify(key)}: ${reason}`,
    { cause: error },
  );
}

/** The outbox's view of its storage: typed reads and writes of the layout above. */
export class OutboxStorage {
  readonly #storage: ClientStorage;
  readonly #prefix: string;

  constructor(storage: ClientStorage, prefix: string) {
    this.#storage = storage;
    this.#prefix = prefix;
  }

  get #outboxKey(): string {
    return `${this.#prefix}outbox`;
  }

  get #resultsKey(): string {
    return `${this.#prefix}results`;
  }

  #messageKey(id: string): string {
    return `${this.#prefix}msg:${id}`;
  }

  async #set(key: string, value: unknown): Promise<void> {
    try {
      await this.#storage.set(key, JSON.stringify(value));
    } catch (error) {
      throw storageError("write", key, error);
    }
  }

  /** Reads the head record; undefined when none (or unreadable, reported through `onCorrupt`). */
  async readRecord(onCorrupt: (e: AssuredError) => void): Promise<OutboxRecord | undefined> {
    const raw = await this.#tolerant(this.#outboxKey, onCorrupt);
    if (raw === undefined) return undefined;
    if (
      !isObject(raw) ||
      typeof raw.clientId !== "string" ||
      !Number.isSafeInteger(raw.seq) ||
      !Array.isArray(raw.ids) ||
      !raw.ids.every((id) => typeof id === "string")
    ) {
      onCorrupt(corrupt(this.#outboxKey));
      return undefined;
    }
    return { clientId: raw.clientId, seq: raw.seq as number, ids: raw.ids as string[] };
  }

  writeRecord(record: OutboxRecord): Promise<void> {
    return this.#set(this.#outboxKey, { v: 1, ...record });
  }

  /** Reads one message; undefined when missing or unreadable. */
  async readMessage(
    id: string,
    onCorrupt: (e: AssuredError) => void,
  ): Promise<OutboxMessage | undefined> {
    const key = this.#messageKey(id);
    const raw = await this.#tolerant(key, onCorrupt);
    if (raw === undefined) return undefined;
    try {
      if (
        !isObject(raw) ||
        raw.id !== id ||
        !Number.isSafeInteger(raw.seq) ||
        typeof raw.name !== "string" ||
        typeof raw.payload !== "string" ||
        typeof raw.createdAt !== "number"
      ) {
        throw corrupt(key);
      }
      return {
        id,
        seq: raw.seq as number,
        name: raw.name,
        payload: base64ToBytes(raw.payload),
        createdAt: raw.createdAt,
      };
    } catch (error) {
      onCorrupt(error instanceof AssuredError ? error : corrupt(key, error));
      return undefined;
    }
  }

  writeMessage(message: OutboxMessage): Promise<void> {
    return this.#set(this.#messageKey(message.id), {
      id: message.id,
      seq: message.seq,
      name: message.name,
      payload: bytesToBase64(message.payload),
      createdAt: message.createdAt,
    });
  }

  async removeMessage(id: string): Promise<void> {
    const key = this.#messageKey(id);
    try {
      await this.#storage.remove(key);
    } catch (error) {
      throw storageError("remove", key, error);
    }
  }

  /** Reads the stored results, oldest first; malformed entries are skipped. */
  async readResults(onCorrupt: (e: AssuredError) => void): Promise<MessageResult[]> {
    const raw = await this.#tolerant(this.#resultsKey, onCorrupt);
    if (!Array.isArray(raw)) return [];
    const out: MessageResult[] = [];
    for (const item of raw) {
      const result = decodeResult(item);
      if (result) out.push(result);
    }
    return out;
  }

  writeResults(results: Iterable<MessageResult>): Promise<void> {
    const items: unknown[] = [];
    for (const r of results) {
      items.push("payload" in r ? { ...r, payload: bytesToBase64(r.payload) } : r);
    }
    return this.#set(this.#resultsKey, items);
  }

  async #tolerant(key: string, onCorrupt: (e: AssuredError) => void): Promise<unknown> {
    try {
      return await readJson(this.#storage, key);
    } catch (error) {
      if (error instanceof AssuredError && error.code === "CODEC_ERROR") {
        onCorrupt(error);
        return undefined;
      }
      throw error;
    }
  }
}

function decodeResult(item: unknown): MessageResult | undefined {
  if (
    !isObject(item) ||
    typeof item.id !== "string" ||
    !Number.isSafeInteger(item.seq) ||
    typeof item.name !== "string" ||
    typeof item.finishedAt !== "number"
  ) {
    return undefined;
  }
  const base = {
    id: item.id,
    seq: item.seq as number,
    name: item.name,
    finishedAt: item.finishedAt,
  };
  try {
    if (item.ok === true && typeof item.payload === "string") {
      return { ...base, ok: true, payload: base64ToBytes(item.payload) };
    }
    if (item.ok === false && item.stored === true && typeof item.payload === "string") {
      return { ...base, ok: false, stored: true, payload: base64ToBytes(item.payload) };
    }
    if (item.ok === false && isObject(item.error)) {
      return { ...base, ok: false, error: AssuredError.fromJSON(item.error).toJSON() };
    }
  } catch {
    return undefined;
  }
  return undefined;
}
