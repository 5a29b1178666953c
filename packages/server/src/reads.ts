import {
  AssuredError,
  type EventRecord,
  type FetchReply,
  type FetchRequest,
  type HeadsReply,
  type HistoryReply,
  type HistoryRequest,
  packRecords,
  type StreamHead,
  toStoreError,
} from "@assured/core";
import { chunkByBytes } from "./batch-chunks.js";
import {
  frameReservation,
  meterOf,
  recordsBytes,
  releaseWhenWritten,
  socketBudget,
} from "./budgets.js";
import type { Grant } from "./byte-budget.js";
import type { ServerContext } from "./context.js";
import { stateOf } from "./socket-state.js";
import { endSubscription } from "./subscriptions.js";
import type { AnySocket } from "./wire.js";

/**
 * Answers `assured:fetch` (gap repair, G7) through `ack`: authorized like a subscription, at most
 * `fetchLimit` records and `maxBatchBytes` of payloads (the first record always fits). Records are
 * sent only for the client's epoch (or from offset 0); for another epoch the reply carries the
 * current epoch and no records, and the client treats it like an `epoch` outcome.
 *
 * Bytes are budgeted (G11): before reading, the fetch reserves a reply's worth of the socket's
 * `maxSocketReplayBytes` (and the server's `maxReplayBytesInFlight`), waiting in line when they
 * are spent, and the reply holds its bytes until it left the server's buffers; a connection
 * that has not written it within `replayAckTimeoutMs` is closed (the peer stopped reading). At most
 * `maxSubscriptionsPerSocket` fetches of a socket may wait (the client keeps one per stream);
 * beyond, `LIMIT_EXCEEDED` (retryable).
 */
export async function fetchRange(
  ctx: ServerContext,
  socket: AnySocket,
  request: FetchRequest,
  ack: (reply: FetchReply) => void,
): Promise<void> {
  const { stream, epoch, after, limit } = request;
  await budgetedRead(ctx, socket, { stream, limit, operation: "fetch" }, ack, async () => {
    const page = await ctx.store.read(stream, { after, limit });
    const sameLog = after === 0 || page.epoch === epoch;
    // At most maxBatchBytes of payloads: the client fetches the rest next.
    const records = sameLog ? (chunkByBytes(page.records, ctx.limits.maxBatchBytes)[0] ?? []) : [];
    return { page, records };
  });
}

/**
 * Answers `assured:history` through `ack`: the newest retained records of the stream below
 * `before` (absent: up to the head), at most `limit` of them and — counted from the newest —
 * `maxBatchBytes` of payloads (the newest always fits), in offset order. Authorized, budgeted
 * and bounded like `fetchRange`; it reads the log only, so the socket's subscriptions and
 * positions are not involved.
 */
export async function readHistory(
  ctx: ServerContext,
  socket: AnySocket,
  request: HistoryRequest,
  ack: (reply: HistoryReply) => void,
): Promise<void> {
  const { stream, limit } = request;
  await budgetedRead(ctx, socket, { stream, limit, operation: "history" }, ack, async () => {
    const below = (before: number) =>
      ctx.store.read(stream, { after: Math.max(0, before - 1 - limit), limit });
    let before = request.before ?? (await ctx.store.head(stream)).head + 1;
    let page = await below(before);
    if (page.head + 1 < before) {
      // Asked beyond the head: the page ends at the head.
      before = page.head + 1;
      page = await below(before);
    }
    // The store starts at `max(after + 1, earliest)`: past a trimmed start that may be `before`
    // or later, which was not asked.
    const wanted = page.records.filter((record) => record.offset < before);
    return { page, records: newestWithin(wanted, ctx.limits.maxBatchBytes) };
  });
}

/** The longest run of `records` ending at the last one whose payloads fit `maxBytes` (at least one). */
function newestWithin<T extends { payload: Uint8Array }>(
  records: readonly T[],
  maxBytes: number,
): T[] {
  let start = records.length;
  let bytes = 0;
  while (start > 0) {
    const size = (records[start - 1] as T).payload.byteLength;
    if (start < records.length && bytes + size > maxBytes) break;
    bytes += size;
    start--;
  }
  return records.slice(start);
}

/**
 * The shared path of `fetchRange` and `readHistory`: authorizes the read like a subscription
 * (`allowedRead`), reserves a reply's worth of the socket's byte budget, runs `read`, and
 * answers with its records, holding their bytes until the reply left the server's buffers.
 */
async function budgetedRead(
  ctx: ServerContext,
  socket: AnySocket,
  request: { stream: string; limit: number; operation: "fetch" | "history" },
  ack: (reply: FetchReply) => void,
  read: () => Promise<{ page: StreamHead; records: EventRecord[] }>,
): Promise<void> {
  const { stream, limit, operation } = request;
  if (!(await allowedRead(ctx, socket, stream))) {
    ack({
      ok: false,
      error: new AssuredError(
        "UNAUTHORIZED",
        `not allowed to ${operation === "fetch" ? "fetch" : "read the history of"} this stream.`,
      ).toJSON(),
    });
    return;
  }
  const budget = socketBudget(ctx, socket);
  const { maxBatchBytes, maxPayloadBytes, maxSubscriptionsPerSocket } = ctx.limits;
  if (budget.waiting >= maxSubscriptionsPerSocket) {
    const error = new AssuredError(
      "LIMIT_EXCEEDED",
      `${budget.waiting} replays and fetches of this socket are waiting for their bytes to fit (maxSocketReplayBytes); retry later.`,
    );
    ack({ ok: false, error: error.toJSON() });
    return;
  }
  let grant: Grant;
  try {
    // A reply's worth: maxBatchBytes and the records' overhead, less for a small limit.
    const reservation = frameReservation(maxBatchBytes, limit);
    grant = await budget.acquire(Math.min(reservation, limit * (maxPayloadBytes + 512)));
  } catch {
    return; // the socket is gone: nobody to answer
  }
  let reply: FetchReply;
  try {
    const { page, records } = await read();
    const bytes = recordsBytes(records);
    if (budget.clamp(bytes) <= grant.bytes) grant.shrink(bytes);
    else {
      // A record larger than the reservation (written under larger limits): wait for its size.
      grant.release();
      grant = await budget.acquire(bytes);
    }
    ctx.metrics.fetched(records.length, bytes);
    reply = {
      ok: true,
      epoch: page.epoch,
      head: page.head,
      earliest: page.earliest,
      ...packRecords(records),
    };
  } catch (error) {
    grant.release();
    if (budget.closed) return;
    const where = { operation, socket, stream };
    ack({ ok: false, error: ctx.answer(toStoreError(error, operation), where) });
    return;
  }
  ack(reply);
  releaseWhenWritten(ctx, socket, grant, meterOf(ctx, socket).mark(), performance.now());
}

/**
 * Answers `assured:heads` (the periodic position check, G7): the epoch and head of each stream
 * the socket may read; streams it may not read are left out (and ended if subscribed: see
 * `allowedRead`).
 */
export async function readHeads(
  ctx: ServerContext,
  socket: AnySocket,
  streams: string[],
): Promise<HeadsReply> {
  try {
    const entries = await Promise.all(
      streams.map(async (stream) => {
        if (!(await allowedRead(ctx, socket, stream))) return undefined;
        const { epoch, head } = await ctx.store.head(stream);
        return [stream, { epoch, head }] as const;
      }),
    );
    // fromEntries defines own properties, so a stream named "__proto__" stays data.
    const heads = Object.fromEntries(entries.filter((entry) => entry !== undefined));
    return { ok: true, heads };
  } catch (error) {
    return {
      ok: false,
      error: ctx.answer(toStoreError(error, "heads"), { operation: "heads", socket }),
    };
  }
}

/**
 * Asks `authorize` whether the socket may read the stream (`"fetch"`). A refusal for a stream
 * the socket is subscribed to means its authorization was revoked: the subscription is ended
 * and the client told (`assured:unsubscribed`, `reason: "unauthorized"`), unless it was
 * replaced while `authorize` ran.
 */
async function allowedRead(
  ctx: ServerContext,
  socket: AnySocket,
  stream: string,
): Promise<boolean> {
  const subscription = stateOf(socket, ctx.limits).subscriptions.get(stream);
  if (await ctx.allowed(socket, stream, "fetch")) return true;
  if (subscription?.held.value === true) {
    endSubscription(ctx, socket, stream, "unauthorized", subscription);
  }
  return false;
}
