import { badFrame } from "./bad-frame.js";
import { MAX_PRINCIPAL_LENGTH } from "./dedup-key.js";
import { AssuredError } from "./errors.js";
import {
  type FetchRequest,
  type HistoryRequest,
  type MessageFrame,
  PROTOCOL_VERSION,
  type StartFrom,
  type SubscribeRequest,
} from "./protocol.js";
import {
  assertEpoch,
  assertEventName,
  assertId,
  assertOffset,
  assertPosition,
  assertStreamName,
} from "./validate.js";

/**
 * Parsers of the frames a client sends. Each returns a clean, fully validated copy or throws an
 * `AssuredError` with the code the protocol names (`BAD_FRAME`, `INVALID_STREAM`,
 * `INVALID_OFFSET`, `INVALID_EPOCH`, `INVALID_ARGUMENT`, `PAYLOAD_TOO_LARGE`).
 */

function asRecord(value: unknown, frame: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badFrame(`${frame} must be an object.`);
  }
  return value as Record<string, unknown>;
}

/** The stream field of a frame, if it is a string (to name it in an error reply). */
export function streamOf(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const stream = (value as Record<string, unknown>).stream;
  return typeof stream === "string" && stream.length <= 1024 ? stream : undefined;
}

/**
 * Parses `{ stream, position, from }` (an `assured:sub` frame or a handshake subscription);
 * `position` is `{ epoch, offset, id? }`, `id` the event id at `offset` (absent from older
 * clients: then no divergence check).
 */
export function parseSubscribeRequest(value: unknown): SubscribeRequest {
  const frame = asRecord(value, "assured:sub");
  assertStreamName(frame.stream);
  const from: StartFrom = frame.from === undefined ? "head" : (frame.from as StartFrom);
  if (from !== "head" && from !== "earliest") {
    throw badFrame('from must be "earliest" or "head".');
  }
  if (frame.position === null || frame.position === undefined) {
    return { stream: frame.stream, position: null, from };
  }
  const position = asRecord(frame.position, "position");
  // `INVALID_EPOCH`, `INVALID_OFFSET`, or `INVALID_ARGUMENT` for a bad `id` (divergence check).
  assertPosition(position);
  return {
    stream: frame.stream,
    position:
      position.id === undefined
        ? { epoch: position.epoch, offset: position.offset }
        : { epoch: position.epoch, offset: position.offset, id: position.id },
    from,
  };
}

/** The handshake's `auth.assured`, with subscriptions left unparsed (each is reported on its own). */
export interface HandshakeFields {
  clientId: string | undefined;
  subscriptions: unknown[];
  /** The lowest unanswered `seq` of the client's outbox session (send order, G10), if given. */
  firstSeq: number | undefined;
  /** What the client understands beyond version 1 (`features`; unknown names are kept, unused). */
  features: ReadonlySet<string>;
}

/** Most `features` a handshake may list, and their longest name. */
const MAX_FEATURES = 32;
const MAX_FEATURE_LENGTH = 64;

/** Parses `auth.assured`; undefined when the handshake carries none. */
export function parseHandshake(
  value: unknown,
  maxSubscriptions: number,
): HandshakeFields | undefined {
  if (value === undefined) return undefined;
  const auth = asRecord(value, "auth.assured");
  if (auth.v !== PROTOCOL_VERSION) {
    if (typeof auth.v === "number" && Number.isSafeInteger(auth.v) && auth.v > 0) {
      throw protocolMismatch(auth.v);
    }
    throw badFrame(`auth.assured.v must be ${PROTOCOL_VERSION}; upgrade the client or server.`);
  }
  let clientId: string | undefined;
  if (auth.clientId !== undefined) {
    assertId(auth.clientId, "auth.assured.clientId");
    if (auth.clientId.length > MAX_PRINCIPAL_LENGTH) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `auth.assured.clientId must be at most ${MAX_PRINCIPAL_LENGTH} characters.`,
      );
    }
    clientId = auth.clientId;
  }
  const subscriptions = auth.subscriptions ?? [];
  if (!Array.isArray(subscriptions)) throw badFrame("auth.assured.subscriptions must be an array.");
  if (subscriptions.length > maxSubscriptions) {
    throw new AssuredError(
      "LIMIT_EXCEEDED",
      `the handshake asks for ${subscriptions.length} subscriptions; the limit is ${maxSubscriptions}.`,
    );
  }
  const firstSeq = auth.firstSeq;
  if (
    firstSeq !== undefined &&
    (typeof firstSeq !== "number" || !Number.isSafeInteger(firstSeq) || firstSeq < 1)
  ) {
    throw badFrame("auth.assured.firstSeq must be a positive integer.");
  }
  return { clientId, subscriptions, firstSeq, features: parseFeatures(auth.features) };
}

/** `auth.assured.features`: absent, or at most 32 names of 1–64 characters (else `BAD_FRAME`). */
function parseFeatures(value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set();
  if (
    !Array.isArray(value) ||
    value.length > MAX_FEATURES ||
    !value.every((f) => typeof f === "string" && f.length > 0 && f.length <= MAX_FEATURE_LENGTH)
  ) {
    throw badFrame(
      `auth.assured.features must be an array of at most ${MAX_FEATURES} names of 1–${MAX_FEATURE_LENGTH} characters.`,
    );
  }
  return new Set(value as string[]);
}

/** Parses an `assured:unsub` frame. */
export function parseUnsubscribe(value: unknown): string {
  const frame = asRecord(value, "assured:unsub");
  assertStreamName(frame.stream);
  return frame.stream;
}

/** Parses an `assured:fetch` frame; a `limit` above `fetchLimit` is lowered to it. */
export function parseFetch(value: unknown, fetchLimit: number): FetchRequest {
  const frame = asRecord(value, "assured:fetch");
  assertStreamName(frame.stream);
  assertEpoch(frame.epoch);
  assertOffset(frame.after, "after");
  const limit = frame.limit;
  if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 1) {
    throw new AssuredError("INVALID_ARGUMENT", "limit must be a positive integer.");
  }
  return {
    stream: frame.stream,
    epoch: frame.epoch,
    after: frame.after,
    limit: Math.min(limit, fetchLimit),
  };
}

/**
 * Parses an `assured:history` frame: `before` absent or a positive integer offset, `limit` a
 * positive integer (above `fetchLimit` it is lowered to it).
 */
export function parseHistory(value: unknown, fetchLimit: number): HistoryRequest {
  const frame = asRecord(value, "assured:history");
  assertStreamName(frame.stream);
  const request: HistoryRequest = { stream: frame.stream, limit: readLimit(frame.limit) };
  if (frame.before !== undefined) {
    assertOffset(frame.before, "before");
    if (frame.before < 1) throw new AssuredError("INVALID_OFFSET", "before must be at least 1.");
    request.before = frame.before;
  }
  request.limit = Math.min(request.limit, fetchLimit);
  return request;
}

function readLimit(limit: unknown): number {
  if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 1) {
    throw new AssuredError("INVALID_ARGUMENT", "limit must be a positive integer.");
  }
  return limit;
}

/** Parses an `assured:heads` frame into distinct stream names. */
export function parseHeads(value: unknown, maxStreams: number): string[] {
  const frame = asRecord(value, "assured:heads");
  if (!Array.isArray(frame.streams)) throw badFrame("streams must be an array of stream names.");
  if (frame.streams.length > maxStreams) {
    throw new AssuredError(
      "LIMIT_EXCEEDED",
      `assured:heads asks for ${frame.streams.length} streams; the limit is ${maxStreams}.`,
    );
  }
  for (const stream of frame.streams) assertStreamName(stream);
  return [...new Set(frame.streams as string[])];
}

/** Parses an `assured:msg` frame. */
export function parseMessage(value: unknown, maxPayloadBytes: number): MessageFrame {
  const frame = asRecord(value, "assured:msg");
  assertId(frame.id, "message id");
  const seq = frame.seq;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
    throw badFrame("seq must be a non-negative integer.");
  }
  assertEventName(frame.name);
  if (!(frame.payload instanceof Uint8Array)) {
    throw badFrame("payload must be binary (the encoded message data).");
  }
  if (frame.payload.byteLength > maxPayloadBytes) {
    throw new AssuredError(
      "PAYLOAD_TOO_LARGE",
      `message payload is ${frame.payload.byteLength} bytes; the limit is ${maxPayloadBytes}.`,
    );
  }
  const message: MessageFrame = { id: frame.id, seq, name: frame.name, payload: frame.payload };
  const age = optionalInteger(frame.age, "age", "milliseconds");
  const ttl = optionalInteger(frame.ttl, "ttl", "milliseconds");
  if (age !== undefined) message.age = age;
  if (ttl !== undefined) message.ttl = ttl;
  const prev = optionalInteger(frame.prev, "prev", "a seq");
  if (prev !== undefined) {
    if (prev >= seq) throw badFrame("prev must be below seq.");
    message.prev = prev;
  }
  return message;
}

/** An optional integer field of a message frame (a duration, a seq): absent, or a non-negative integer. */
function optionalInteger(value: unknown, field: string, unit: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw badFrame(`${field} must be a non-negative integer (${unit}).`);
  }
  return value;
}

/**
 * The handshake of a client speaking another protocol version (a v1 client talking to this v2
 * server): a clear, final error instead of frames it would misread.
 */
function protocolMismatch(peerVersion: number): AssuredError {
  const advice =
    peerVersion < PROTOCOL_VERSION
      ? "upgrade @assured/client to the version matching the server"
      : "upgrade @assured/server to the version matching the client";
  return new AssuredError(
    "PROTOCOL_VERSION",
    `the client speaks Assured protocol version ${peerVersion}, this server speaks version ${PROTOCOL_VERSION}: ${advice}. Nothing is subscribed and no message is handled on this connection.`,
    { details: { version: PROTOCOL_VERSION, peerVersion } },
  );
}
