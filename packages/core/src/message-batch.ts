import { badFrame } from "./bad-frame.js";
import type { AssuredErrorData } from "./errors.js";
import type { MessageFrame, MessageReply } from "./protocol.js";
import { decodeBase64Text } from "./wire-base64.js";
import { toWirePayloads } from "./wire-records.js";

/**
 * Batched client messages and their replies (DESIGN §8, "frames are cheap"): several
 * `assured:msg` frames travel in one `assured:msgs` packet, and the server answers several of
 * them in one `assured:replies` packet. Each message keeps its own `seq`, `prev`, `age` and
 * `ttl` and gets its own reply, exactly as if it had been sent alone. Payloads are
 * concatenated in message order; each message says its payload's byte `size`. Up to
 * `INLINE_PAYLOADS_MAX_BYTES` they travel inline as one base64 string (a packet without binary
 * attachment is one WebSocket frame), above as one binary attachment.
 */

/** Most messages in one `assured:msgs` frame (the server refuses more: `BAD_FRAME`). */
export const MAX_MESSAGE_BATCH = 64;

/** Most replies in one `assured:replies` frame. */
export const MAX_REPLY_BATCH = 256;

/** A batch is closed before its payloads would pass this; a larger payload travels alone. */
export const MAX_BATCH_PAYLOAD_BYTES = 256 * 1024;

/** One message of an `assured:msgs` frame: a `MessageFrame` whose payload is `size` bytes of the frame's `payloads`. */
export interface WireMessage {
  id: string;
  seq: number;
  name: string;
  size: number;
  age?: number;
  ttl?: number;
  prev?: number;
}

/** client → server `assured:msgs` (no ack: the answers come in `assured:replies`). */
export interface MessageBatchFrame {
  msgs: WireMessage[];
  /** The payloads, concatenated in message order: base64 text, or binary above `INLINE_PAYLOADS_MAX_BYTES`. */
  payloads: string | Uint8Array;
}

/** One reply of an `assured:replies` frame; `size` bytes of the frame's `payloads` are its payload. */
export type WireReply =
  | { id: string; ok: true; size: number }
  | { id: string; ok: false; stored: true; size: number }
  | { id: string; ok: false; error: AssuredErrorData };

/** server → client `assured:replies`: answers to messages of `assured:msgs` frames, in any grouping. */
export interface ReplyBatchFrame {
  replies: WireReply[];
  payloads: string | Uint8Array;
}

/**
 * Splits frames (in send order) into `assured:msgs` frames: at most `MAX_MESSAGE_BATCH`
 * messages and `MAX_BATCH_PAYLOAD_BYTES` of payloads each (a larger payload alone), order kept.
 */
export function batchMessages(frames: readonly MessageFrame[]): MessageBatchFrame[] {
  const out: MessageBatchFrame[] = [];
  for (const group of groups(frames, (f) => f.payload.byteLength, MAX_MESSAGE_BATCH)) {
    const msgs: WireMessage[] = [];
    for (const { id, seq, name, payload, age, ttl, prev } of group) {
      const wire: WireMessage = { id, seq, name, size: payload.byteLength };
      if (age !== undefined) wire.age = age;
      if (ttl !== undefined) wire.ttl = ttl;
      if (prev !== undefined) wire.prev = prev;
      msgs.push(wire);
    }
    out.push({ msgs, payloads: joinPayloads(group.map((f) => f.payload)) });
  }
  return out;
}

/**
 * Splits replies into `assured:replies` frames (at most `MAX_REPLY_BATCH` each and
 * `MAX_BATCH_PAYLOAD_BYTES` of payloads, a larger one alone), order kept.
 */
export function batchReplies(replies: readonly MessageReply[]): ReplyBatchFrame[] {
  const out: ReplyBatchFrame[] = [];
  const sizeOf = (r: MessageReply) => ("payload" in r ? r.payload.byteLength : 0);
  for (const group of groups(replies, sizeOf, MAX_REPLY_BATCH)) {
    const wire: WireReply[] = [];
    const payloads: Uint8Array[] = [];
    for (const reply of group) {
      if (reply.ok) wire.push({ id: reply.id, ok: true, size: reply.payload.byteLength });
      else if (reply.stored === true) {
        wire.push({ id: reply.id, ok: false, stored: true, size: reply.payload.byteLength });
      } else {
        wire.push({ id: reply.id, ok: false, error: reply.error });
        continue;
      }
      payloads.push(reply.payload);
    }
    out.push({ replies: wire, payloads: joinPayloads(payloads) });
  }
  return out;
}

/**
 * The messages of an `assured:msgs` frame, each as the fields of a single `assured:msg` frame
 * (`payload` a view of the frame's bytes), unchecked beyond the packing: the caller validates
 * each one on its own (one bad message gets its own error reply; the others run).
 * @throws AssuredError `BAD_FRAME` when the frame is not `{ msgs, payloads }`, holds more than
 *   `maxMessages` messages, or the sizes do not add up to the payloads.
 */
export function unpackMessageBatch(
  value: unknown,
  maxMessages: number = MAX_MESSAGE_BATCH,
): Array<Record<string, unknown>> {
  const frame = asObject(value, "assured:msgs");
  if (!Array.isArray(frame.msgs) || frame.msgs.length === 0) {
    throw badFrame("assured:msgs must carry a non-empty msgs array.");
  }
  if (frame.msgs.length > maxMessages) {
    throw badFrame(`assured:msgs carries ${frame.msgs.length} messages; at most ${maxMessages}.`);
  }
  const parts = split(frame.msgs, frame.payloads, "assured:msgs");
  return frame.msgs.map((item, i) => {
    const { id, seq, name, age, ttl, prev } = item as Record<string, unknown>;
    const message: Record<string, unknown> = { id, seq, name, payload: parts[i] };
    if (age !== undefined) message.age = age;
    if (ttl !== undefined) message.ttl = ttl;
    if (prev !== undefined) message.prev = prev;
    return message;
  });
}

/**
 * The replies of an `assured:replies` frame, each shaped like a single message's reply
 * (`MessageReply`, unchecked beyond the packing: `Outbox.acked` checks each).
 * @throws AssuredError `BAD_FRAME` when the frame is not `{ replies, payloads }` or the sizes do
 *   not add up to the payloads.
 */
export function unpackReplyBatch(value: unknown): Array<Record<string, unknown>> {
  const frame = asObject(value, "assured:replies");
  if (!Array.isArray(frame.replies) || frame.replies.length > MAX_REPLY_BATCH) {
    throw badFrame(`assured:replies must carry an array of at most ${MAX_REPLY_BATCH} replies.`);
  }
  const parts = split(frame.replies, frame.payloads, "assured:replies");
  // Each reply built field by field: a spread and a `delete` would cost more than the rest.
  return frame.replies.map((item, i) => {
    const { id, ok, stored, error } = item as Record<string, unknown>;
    if (ok === true) return { id, ok, payload: parts[i] };
    if (stored === true) return { id, ok, stored, payload: parts[i] };
    return { id, ok, error };
  });
}

/** Groups of at most `max` items and `MAX_BATCH_PAYLOAD_BYTES` (a larger item alone), in order. */
function groups<T>(items: readonly T[], sizeOf: (item: T) => number, max: number): T[][] {
  const out: T[][] = [];
  let group: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (group.length > 0 && (group.length >= max || bytes + size > MAX_BATCH_PAYLOAD_BYTES)) {
      out.push(group);
      group = [];
      bytes = 0;
    }
    group.push(item);
    bytes += size;
  }
  if (group.length > 0) out.push(group);
  return out;
}

/** Payloads concatenated, in the record frames' wire form (`toWirePayloads`). */
function joinPayloads(payloads: readonly Uint8Array[]): string | Uint8Array {
  let total = 0;
  for (const p of payloads) total += p.byteLength;
  const joined = payloads.length === 1 ? payloads[0]! : new Uint8Array(total);
  if (payloads.length !== 1) {
    let at = 0;
    for (const p of payloads) {
      joined.set(p, at);
      at += p.byteLength;
    }
  }
  return toWirePayloads(joined);
}

/**
 * The payload of each item (a view of the frame's bytes; empty for items with `size` 0 or
 * none): sizes must be non-negative integers adding up to the payloads' length exactly.
 */
function split(items: unknown[], payloads: unknown, frame: string): Uint8Array[] {
  const bytes = typeof payloads === "string" ? decodeBase64Text(payloads) : toBytes(payloads);
  if (bytes === undefined) {
    throw badFrame(`${frame}: payloads must be base64 text or binary.`);
  }
  const out: Uint8Array[] = [];
  let at = 0;
  for (const item of items) {
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      throw badFrame(`${frame}: every item must be an object.`);
    }
    const size = (item as { size?: unknown }).size ?? 0;
    if (
      typeof size !== "number" ||
      !Number.isSafeInteger(size) ||
      size < 0 ||
      at + size > bytes.byteLength
    ) {
      throw badFrame(`${frame}: an item's size does not match the payloads.`);
    }
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  if (at !== bytes.byteLength) {
    throw badFrame(
      `${frame}: the sizes add up to ${at} bytes, the payloads hold ${bytes.byteLength}.`,
    );
  }
  return out;
}

/** Binary attachments arrive as Buffer in Node and as ArrayBuffer in browsers. */
function toBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value))
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

function asObject(value: unknown, frame: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badFrame(`${frame} must be an object.`);
  }
  return value as Record<string, unknown>;
}
