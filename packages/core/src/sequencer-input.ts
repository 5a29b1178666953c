import { decode, decodeConcatenated } from "./codec.js";
import { AssuredError, type AssuredErrorData } from "./errors.js";
import type { SubscribedFrame } from "./protocol.js";
import type { Epoch, EventRecord, Offset, RecoveryReason, StreamName } from "./types.js";
import { MAX_EPOCH_LENGTH, MAX_ID_LENGTH, MAX_STREAM_NAME_LENGTH } from "./validate.js";
import { DECODED, readWirePage, recordsOf, type WirePageColumns } from "./wire-page-read.js";

/**
 * Checks of server → client frames as they arrive on the client, turning wire records into
 * `EventRecord`s. Every parser throws `AssuredError` `BAD_FRAME` on a malformed frame, so a
 * misbehaving peer is reported and never corrupts the sequencer.
 */

/** Records of one stream and epoch, from a batch frame or a fetch reply. */
export interface ParsedBatch {
  stream: StreamName;
  epoch: Epoch;
  records: EventRecord[];
}

/** A parsed `assured:subscribed` frame: the outcome and the first page of records after `start`. */
export interface ParsedSubscribed extends Omit<SubscribedFrame, "records"> {
  /** Records after `start` (consecutive from `start + 1`); absent means none. */
  records?: EventRecord[];
}

/** A parsed `assured:fetch` reply. */
export type FetchResult =
  | { ok: true; epoch: Epoch; head: Offset; earliest: Offset; records: EventRecord[] }
  | { ok: false; error: AssuredErrorData };

/** A parsed `assured:heads` reply. */
export type HeadsResult =
  | { ok: true; heads: Record<StreamName, { epoch: Epoch; head: Offset }> }
  | { ok: false; error: AssuredErrorData };

const RECOVERY_REASONS: readonly RecoveryReason[] = ["epoch", "diverged", "trimmed", "limit"];

function bad(what: string): never {
  throw new AssuredError("BAD_FRAME", `malformed ${what} from the server`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isText(value: unknown, max: number): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= max * 2;
}

function isEpoch(value: unknown): value is string {
  return typeof value === "string" && value.length <= MAX_EPOCH_LENGTH;
}

function isOffset(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The record's payload decoded: the value decoded with its page when it arrived (one pass over
 * the page, `decodeConcatenated`), else `decode(record.payload)` now.
 * @throws AssuredError `CODEC_ERROR` when the payload cannot be decoded.
 */
export function decodeRecord(record: EventRecord): unknown {
  const held = record as EventRecord & { [DECODED]?: unknown };
  return DECODED in held ? held[DECODED] : decode(record.payload);
}

/**
 * Reads a frame's `records` (`readWirePage`: consecutive records of `stream`, offsets above 0,
 * ids and names within limits) and decodes their payloads in one pass over the page (see
 * `decodeRecord`).
 */
export function parseWireRecords(stream: StreamName, wire: unknown, what: string): EventRecord[] {
  let page: WirePageColumns;
  try {
    page = readWirePage(wire);
  } catch {
    bad(what);
  }
  const decoded = page.count > 0 ? decodeConcatenated(page.payloads, page.lengths) : undefined;
  return recordsOf(stream, page, decoded);
}

/** Parses an `assured:batch` frame. */
export function parseBatchFrame(raw: unknown): ParsedBatch {
  if (!isObject(raw) || !isText(raw.stream, MAX_STREAM_NAME_LENGTH) || !isEpoch(raw.epoch)) {
    bad("batch frame");
  }
  return {
    stream: raw.stream,
    epoch: raw.epoch,
    records: parseWireRecords(raw.stream, raw.records, "batch frame"),
  };
}

/** Parses an `assured:subscribed` frame, with its first page of records. */
export function parseSubscribedFrame(raw: unknown): ParsedSubscribed {
  if (
    !isObject(raw) ||
    !isText(raw.stream, MAX_STREAM_NAME_LENGTH) ||
    !isEpoch(raw.epoch) ||
    typeof raw.recovered !== "boolean" ||
    !isOffset(raw.start) ||
    !isOffset(raw.head) ||
    (raw.reason !== undefined && !RECOVERY_REASONS.includes(raw.reason as RecoveryReason)) ||
    (raw.startId !== undefined && (!isText(raw.startId, MAX_ID_LENGTH) || raw.start === 0))
  ) {
    bad("subscribed frame");
  }
  const records = parseWireRecords(raw.stream, raw.records, "subscribed frame");
  const first = records[0];
  if (first !== undefined && first.offset !== raw.start + 1) bad("subscribed frame");
  const frame: ParsedSubscribed = {
    stream: raw.stream,
    epoch: raw.epoch,
    recovered: raw.recovered,
    start: raw.start,
    head: raw.head,
    records,
  };
  if (raw.reason !== undefined) frame.reason = raw.reason as RecoveryReason;
  if (raw.startId !== undefined) frame.startId = raw.startId as string;
  return frame;
}

/** Parses the ack of `assured:fetch` for `stream`. */
export function parseFetchReply(stream: StreamName, raw: unknown): FetchResult {
  if (!isObject(raw)) bad("fetch reply");
  if (raw.ok === false) return { ok: false, error: AssuredError.fromJSON(raw.error).toJSON() };
  if (raw.ok !== true || !isEpoch(raw.epoch) || !isOffset(raw.head) || !isOffset(raw.earliest)) {
    bad("fetch reply");
  }
  return {
    ok: true,
    epoch: raw.epoch,
    head: raw.head,
    earliest: raw.earliest,
    records: parseWireRecords(stream, raw.records, "fetch reply"),
  };
}

/** Parses the ack of `assured:heads`; entries of the wrong shape are left out. */
export function parseHeadsReply(raw: unknown): HeadsResult {
  if (!isObject(raw)) bad("heads reply");
  if (raw.ok === false) return { ok: false, error: AssuredError.fromJSON(raw.error).toJSON() };
  if (raw.ok !== true || !isObject(raw.heads)) bad("heads reply");
  const heads: Record<StreamName, { epoch: Epoch; head: Offset }> = Object.create(null);
  for (const [stream, value] of Object.entries(raw.heads)) {
    if (isObject(value) && isEpoch(value.epoch) && isOffset(value.head)) {
      heads[stream] = { epoch: value.epoch, head: value.head };
    }
  }
  return { ok: true, heads };
}
