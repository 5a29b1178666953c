import { AssuredError, type EventRecord } from "@assured/core";
import {
  type FetchReply,
  type FetchRequest,
  type HeadsReply,
  type HistoryReply,
  type HistoryRequest,
  packRecords,
  packWireRecords,
  type WirePage,
  type WireRecord,
} from "@assured/core/protocol";
import { type StreamHead, toStoreError } from "@assured/core/store";
import { chunkByBytes } from "./batch-chunks.js";
import {
  frameReservation,
  meterOf,
  pageBytes,
  releaseWhenWritten,
  socketBudget,
} from "./budgets.js";
import type { Grant } from "./byte-budget.js";
import type { ServerContext } from "./context.js";
import { pageKey } from "./shared-reads.js";
import { stateOf } from "./socket-state.js";
import { endSubscription } from "./subscriptions.js";
import type { AnySocket } from "./wire.js";

/** A catch-up page read under the socket's byte budget: send it, then `sent()`. */
export interface BudgetedPage {
  epoch: string;
  head: number;
  earliest: number;
  /**
   * At most the asked limit and `maxBatchBytes` of payloads (the first record always fits), in
   * their wire form, packed once.
   */
  records: WirePage;
  /** What the page costs in the byte budgets (`pageBytes`). */
  bytes: number;
  /** Call right after emitting the page: its bytes are given back once written. */
  sent(): void;
  /** Call instead of `sent` when the page is not sent. */
  drop(): void;
}

/**
 * What a read of the log gives to send: the log's state, the records chosen from it in their
 * wire form, and what they cost in bytes.
 */
type PageRead = () => Promise<{ page: StreamHead; records: WirePage; bytes: number }>;

/** `records` (as `read` gives them, or as a store packed them) in their wire form, and their cost. */
function packed(
  page: StreamHead,
  records: readonly EventRecord[] | readonly WireRecord[],
  payloads?: Uint8Array,
) {
  const wire =
    payloads === undefined
      ? packRecords(records as readonly EventRecord[])
      : packWireRecords(records as readonly WireRecord[], payloads);
  return { page, records: wire, bytes: pageBytes(records) };
}

/**
 * Reads the page after `after` (at most `limit` records and `maxBatchBytes` of payloads) for one
 * socket under its byte budget (see `readBudgeted`). Records are returned only for `epoch` (or
 * from offset 0). Sockets asking for the same page while its read waits for a turn share that
 * read (`SharedReads`). Returns undefined when the socket is gone or `signal` aborted; throws
 * the store's error (as `STORE_UNAVAILABLE` …).
 */
export function readBudgetedPage(
  ctx: ServerContext,
  socket: AnySocket,
  stream: string,
  epoch: string,
  after: number,
  limit: number,
  signal?: AbortSignal,
): Promise<BudgetedPage | undefined> {
  return readBudgeted(
    ctx,
    socket,
    limit,
    async () => {
      const { maxBatchBytes } = ctx.limits;
      // A store that packs pages itself copies each payload once, into the page.
      if (ctx.store.readPacked !== undefined) {
        const page = await ctx.store.readPacked(stream, { after, limit, maxBytes: maxBatchBytes });
        if (after === 0 || page.epoch === epoch) return packed(page, page.records, page.payloads);
        return packed(page, []);
      }
      const page = await ctx.store.read(stream, { after, limit });
      const sameLog = after === 0 || page.epoch === epoch;
      // At most maxBatchBytes of payloads: the client fetches the rest next.
      return packed(page, sameLog ? (chunkByBytes(page.records, maxBatchBytes)[0] ?? []) : []);
    },
    signal,
    pageKey(stream, epoch, after, limit),
  );
}

/**
 * Runs `read` for one socket under its byte budget (G11): reserves a page's worth (`limit`
 * records, at most `maxBatchBytes` of payloads) of the socket's `maxSocketReplayBytes` (and the
 * server's `maxReplayBytesInFlight`) first, waiting in line while they are spent, then waits
 * for its turn to read (`ReadPacer`: a turn of the event loop starts at most about 10 ms of
 * reads); the page holds
 * its bytes until it left the server's buffers, and a connection that has not written it within
 * `writeTimeoutMs` is closed (the peer stopped reading). Returns undefined when the socket is
 * gone or `signal` aborted; throws the store's error (as `STORE_UNAVAILABLE` …).
 */
async function readBudgeted(
  ctx: ServerContext,
  socket: AnySocket,
  limit: number,
  read: PageRead,
  signal?: AbortSignal,
  shareKey?: string,
): Promise<BudgetedPage | undefined> {
  const budget = socketBudget(ctx, socket);
  const { maxBatchBytes, maxPayloadBytes } = ctx.limits;
  let grant: Grant;
  try {
    // A page's worth: maxBatchBytes and the records' overhead, less for a small limit.
    const reservation = frameReservation(maxBatchBytes, limit);
    grant = await budget.acquire(Math.min(reservation, limit * (maxPayloadBytes + 512)), signal);
  } catch {
    return undefined; // the socket is gone or the request superseded: nobody to answer
  }
  try {
    // In a storm of fetches, synchronous stores read in later turns of the event loop; a read
    // of the same page that waits for its turn meanwhile answers this socket too.
    // Skipped when, at its turn, nobody it would answer is left (socket gone, request superseded).
    const result = await ctx.reads.run(shareKey, read, () => !budget.closed && !signal?.aborted);
    if (result === undefined || budget.closed || signal?.aborted) {
      grant.release();
      return undefined;
    }
    const { page, records, bytes } = result;
    if (budget.clamp(bytes) <= grant.bytes) grant.shrink(bytes);
    else {
      // A record larger than the reservation (written under larger limits): wait for its size.
      grant.release();
      grant = await budget.acquire(bytes, signal);
    }
    const held = grant;
    return {
      epoch: page.epoch,
      head: page.head,
      earliest: page.earliest,
      records,
      bytes,
      sent: () =>
        releaseWhenWritten(ctx, socket, held, meterOf(ctx, socket).mark(), performance.now()),
      drop: () => held.release(),
    };
  } catch (error) {
    grant.release();
    if (budget.closed || signal?.aborted) return undefined;
    throw toStoreError(error, "read");
  }
}

/**
 * Answers `assured:fetch` (catch-up and repair, G5, G7) through `ack`: authorized like a
 * subscription, at most `fetchLimit` records and `maxBatchBytes` of payloads (the first record
 * always fits), read under the socket's byte budget (`readBudgetedPage`). Records are sent only
 * for the client's epoch (or from offset 0); for another epoch the reply carries the current
 * epoch and no records, and the client treats it like an `epoch` outcome.
 */
export async function fetchRange(
  ctx: ServerContext,
  socket: AnySocket,
  request: FetchRequest,
  ack: (reply: FetchReply) => void,
): Promise<void> {
  const { stream, epoch, after, limit } = request;
  await answerRead(ctx, socket, { stream, operation: "fetch" }, ack, () =>
    readBudgetedPage(ctx, socket, stream, epoch, after, limit),
  );
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
  await answerRead(ctx, socket, { stream, operation: "history" }, ack, () =>
    readBudgeted(ctx, socket, limit, async () => {
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
      return packed(page, newestWithin(wanted, ctx.limits.maxBatchBytes));
    }),
  );
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
 * (`allowedRead`), refuses it with `LIMIT_EXCEEDED` (retryable) when `maxSubscriptionsPerSocket`
 * reads of the socket already wait for their bytes (the client keeps one fetch per stream),
 * runs `read` and answers with its records.
 */
async function answerRead(
  ctx: ServerContext,
  socket: AnySocket,
  request: { stream: string; operation: "fetch" | "history" },
  ack: (reply: FetchReply) => void,
  read: () => Promise<BudgetedPage | undefined>,
): Promise<void> {
  const { stream, operation } = request;
  const state = stateOf(socket, ctx.limits);
  let refusals = state.readRefusals;
  if (!(await allowedRead(ctx, socket, stream))) {
    ack({ ok: false, error: unauthorized(operation).toJSON() });
    return;
  }
  const budget = socketBudget(ctx, socket);
  if (budget.waiting >= ctx.limits.maxSubscriptionsPerSocket) {
    const error = new AssuredError(
      "LIMIT_EXCEEDED",
      `${budget.waiting} fetches and subscriptions of this socket are waiting for their bytes to fit (maxSocketReplayBytes); retry later.`,
    );
    ack({ ok: false, error: error.toJSON() });
    return;
  }
  let page: BudgetedPage | undefined;
  try {
    page = await read();
  } catch (error) {
    const where = { operation, socket, stream };
    ack({ ok: false, error: ctx.answer(toStoreError(error, operation), where) });
    return;
  }
  if (page === undefined) return; // the socket is gone: nobody to answer
  for (;;) {
    // `authorize` refused a subscription or read of this socket meanwhile (how a revocation is
    // found): asked again, so no page leaves after a refusal `authorize` would repeat.
    if (state.readRefusals !== refusals) {
      refusals = state.readRefusals;
      const allowed = await allowedRead(ctx, socket, stream).catch(() => false);
      if (!allowed || !socket.connected) {
        page.drop();
        if (!allowed) ack({ ok: false, error: unauthorized(operation).toJSON() });
        return;
      }
      continue;
    }
    // Sent in a turn of its own when this turn's slice is spent (a storm's pages go over
    // turns), synchronously right after it so the slice counts the send.
    const turn = ctx.reads.turn();
    if (turn === undefined) break;
    await turn;
    if (!socket.connected) {
      page.drop();
      return;
    }
    if (state.readRefusals === refusals) break;
  }
  ctx.metrics.fetched(page.records.count, page.bytes);
  ack({
    ok: true,
    epoch: page.epoch,
    head: page.head,
    earliest: page.earliest,
    records: page.records,
  });
  page.sent();
}

function unauthorized(operation: "fetch" | "history"): AssuredError {
  return new AssuredError(
    "UNAUTHORIZED",
    `not allowed to ${operation === "fetch" ? "fetch" : "read the history of"} this stream.`,
  );
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
 * replaced while `authorize` ran. Every refusal is counted (`readRefusals`), so reads authorized
 * before it ask again before they send records.
 */
async function allowedRead(
  ctx: ServerContext,
  socket: AnySocket,
  stream: string,
): Promise<boolean> {
  const state = stateOf(socket, ctx.limits);
  const subscription = state.subscriptions.get(stream);
  if (await ctx.allowed(socket, stream, "fetch")) return true;
  state.readRefusals++;
  if (subscription?.held.value === true) {
    endSubscription(ctx, socket, stream, "unauthorized", subscription);
  }
  return false;
}
