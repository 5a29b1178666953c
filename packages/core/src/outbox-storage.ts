import { AssuredError, type AssuredErrorData } from "./errors.js";
import type { ClientMessage } from "./types.js";
import { decodeBase64Text, encodeBase64 } from "./wire-base64.js";

/**
 * The JSON values the outbox stores (payload bytes as base64) and their tolerant decoders. Where
 * each value lives is `outbox-session-store.ts`.
 */

/** A message waiting in the outbox. */
export interface OutboxMessage extends ClientMessage {
  /** When it was added (ms since the Unix epoch). */
  createdAt: number;
}

/**
 * The final answer to a message (G9): the handler's result, its stored error, or a protocol
 * error. A result whose stored form would exceed `maxResultBytes` (or that storage refused) is
 * kept in full only in the memory of the outbox that received it; storage, and so other tabs
 * and later page lives, only learn that the message finished: `omitted: true`, no `payload`.
 */
export type MessageResult = {
  id: string;
  /** The seq the message had in the session that sent it. */
  seq: number;
  name: string;
  /** When the answer arrived (ms since the Unix epoch). */
  finishedAt: number;
} & (
  | { ok: true; omitted?: false; payload: Uint8Array }
  | { ok: true; omitted: true }
  | { ok: false; stored: true; omitted?: false; payload: Uint8Array }
  | { ok: false; stored: true; omitted: true }
  | { ok: false; stored?: false; omitted?: false; error: AssuredErrorData }
);

/** A result as the outbox that received it holds it: never `omitted`. */
export type ReceivedResult = Extract<MessageResult, { omitted?: false }>;

/** Base64 of bytes (browser-safe; Node's `Buffer` where present). */
export function bytesToBase64(bytes: Uint8Array): string {
  return encodeBase64(bytes);
}

/** Bytes of a base64 string. @throws TypeError when it is not base64. */
export function base64ToBytes(text: string): Uint8Array {
  const bytes = decodeBase64Text(text);
  if (bytes === undefined) throw new TypeError("not a base64 string");
  // A plain Uint8Array (Node's decoder gives a Buffer, which may share a pooled ArrayBuffer).
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes);
}

/** The error reported for a stored value the outbox cannot read (it is then ignored). */
export function corrupt(key: string, cause?: unknown): AssuredError {
  return new AssuredError(
    "CODEC_ERROR",
    `client storage key ${JSON.stringify(key)} holds data the outbox cannot read; it was ignored.`,
    cause === undefined ? {} : { cause },
  );
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

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The stored form of a message of session `session`. */
export function encodeMessage(message: OutboxMessage, session: string): string {
  // The text `JSON.stringify` gives for `{ id, seq, name, payload, createdAt, session }`,
  // written out: about three times faster, and it runs for every message sent.
  const { id, seq, name, createdAt } = message;
  const payload = bytesToBase64(message.payload);
  return `{"id":${jsonText(id)},"seq":${jsonNumber(seq)},"name":${jsonText(name)},"payload":"${payload}","createdAt":${jsonNumber(createdAt)},"session":${jsonText(session)}}`;
}

/** Strings `JSON.stringify` writes as they are, between quotes. */
const PLAIN_TEXT = /^[\w:.-]*$/;

/** `JSON.stringify(text)`, without its cost for the usual ids and names. */
function jsonText(text: string): string {
  return PLAIN_TEXT.test(text) ? `"${text}"` : JSON.stringify(text);
}

/** `JSON.stringify(value)` of a number. */
function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : "null";
}

/** A stored message (v1 ones have no `session`); throws when malformed. */
export function decodeMessage(raw: unknown, id: string): OutboxMessage {
  if (
    !isObject(raw) ||
    raw.id !== id ||
    !Number.isSafeInteger(raw.seq) ||
    typeof raw.name !== "string" ||
    typeof raw.payload !== "string" ||
    typeof raw.createdAt !== "number"
  ) {
    throw new TypeError("malformed message");
  }
  return {
    id,
    seq: raw.seq as number,
    name: raw.name,
    payload: base64ToBytes(raw.payload),
    createdAt: raw.createdAt,
  };
}

const ERROR_MESSAGE_CHARS = 200;

/**
 * The stored form of a result, at most `maxBytes` (UTF-8) when it can be: a payload that does
 * not fit is left out (`omitted: true`); an error that does not fit loses its details and most
 * of its message (its code is always kept). `omitted` tells whether anything was left out.
 */
export function encodeResult(
  result: MessageResult,
  maxBytes: number,
): { value: string; omitted: boolean } {
  const full = "payload" in result ? resultWithPayload(result) : JSON.stringify(result);
  // A UTF-16 unit is at most 3 UTF-8 bytes: a short value needs no scan.
  if (full.length * 3 <= maxBytes || utf8Length(full) <= maxBytes)
    return { value: full, omitted: "omitted" in result };
  return { value: resultMarker(result), omitted: true };
}

/**
 * The JSON of a result with a payload (as base64): the text `JSON.stringify` gives for
 * `{ id, seq, name, finishedAt, ok, stored?, payload }`, written out (it runs for every answer).
 */
function resultWithPayload(result: Extract<MessageResult, { payload: Uint8Array }>): string {
  const { id, seq, name, finishedAt } = result;
  const head = `{"id":${jsonText(id)},"seq":${jsonNumber(seq)},"name":${jsonText(name)},"finishedAt":${jsonNumber(finishedAt)}`;
  const how = result.ok ? `"ok":true` : `"ok":false,"stored":true`;
  return `${head},${how},"payload":"${bytesToBase64(result.payload)}"}`;
}

/** The smallest stored form of a result: that it finished, and how, without its value. */
export function resultMarker(result: MessageResult): string {
  const { id, seq, name, finishedAt } = result;
  if (result.ok) return JSON.stringify({ id, seq, name, finishedAt, ok: true, omitted: true });
  if (result.stored === true) {
    return JSON.stringify({ id, seq, name, finishedAt, ok: false, stored: true, omitted: true });
  }
  const error = {
    code: result.error.code,
    message: result.error.message.slice(0, ERROR_MESSAGE_CHARS),
  };
  return JSON.stringify({ id, seq, name, finishedAt, ok: false, error });
}

/** A stored result (v1 and v2 forms); undefined when malformed. */
export function decodeResult(item: unknown): MessageResult | undefined {
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
    if (item.ok === true && item.omitted === true) return { ...base, ok: true, omitted: true };
    if (item.ok === true && typeof item.payload === "string") {
      return { ...base, ok: true, payload: base64ToBytes(item.payload) };
    }
    if (item.ok === false && item.stored === true && item.omitted === true) {
      return { ...base, ok: false, stored: true, omitted: true };
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

const encoder = new TextEncoder();

function utf8Length(text: string): number {
  // Base64 and JSON punctuation are ASCII: only measure precisely when something is not.
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) return encoder.encode(text).byteLength;
  }
  return text.length;
}
