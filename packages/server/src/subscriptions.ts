import { AssuredError } from "@assured/core";
import {
  FRAMES,
  packRecords,
  ROOM_PREFIX,
  type SubscribedFrame,
  type SubscribeRequest,
  type UnsubscribedFrame,
} from "@assured/core/protocol";
import { toStoreError } from "@assured/core/store";
import createDebug from "debug";
import { type CatchUp, pendingCatchUp, startCatchUp } from "./catch-up-pacing.js";
import type { ServerContext } from "./context.js";
import { decideOutcome } from "./outcome.js";
import { rateLimited, replayCost } from "./rate-limit.js";
import { readBudgetedPage } from "./reads.js";
import { idAtStart, recordAtPosition } from "./resume-reads.js";
import {
  type SocketState,
  type SubscriptionOutcome,
  type SubscriptionState,
  stateOf,
} from "./socket-state.js";
import { type AnySocket, roomOf } from "./wire.js";

const log = createDebug("assured:server:subscribe");

/**
 * Subscribes a socket to a stream (G5, G6): authorize → join the stream's room → read the head
 * → decide the outcome → read the first page → send `assured:subscribed` with it (the client
 * pulls the rest with `assured:fetch`). A new request for the same stream supersedes a running
 * one. Failures are sent as `assured:sub-error` and
 * reject the returned promise; the socket is then not in the room — except a refused
 * re-subscription of a stream the socket held: its authorization was revoked, so the server
 * ends it with `assured:unsubscribed` (`reason: "unauthorized"`) and the client forgets it. A
 * subscription the client asked for (`byClient`) pays its first page from the socket's rate-limit
 * bucket (`RATE_COSTS`): 1 token per 32 records of its first page, admitted while the bucket is
 * not empty; the fetches that pull the rest of its catch-up are paid after (`catch-up-pacing.ts`).
 */
export function subscribeSocket(
  ctx: ServerContext,
  socket: AnySocket,
  request: SubscribeRequest,
  byClient = false,
): Promise<SubscriptionOutcome> {
  const state = stateOf(socket, ctx.limits);
  const { stream } = request;
  const previous = state.subscriptions.get(stream);
  if (previous === undefined && state.subscriptions.size >= ctx.limits.maxSubscriptionsPerSocket) {
    const error = new AssuredError(
      "LIMIT_EXCEEDED",
      `this socket already has ${state.subscriptions.size} subscriptions (maxSubscriptionsPerSocket); unsubscribe first.`,
    );
    socket.emit(FRAMES.subscribeError, { stream, error: error.toJSON() });
    return Promise.reject(error);
  }
  // The subscription is current while the map holds this very object: a resubscribe or an
  // unsubscribe replaces or removes it, which stops its evaluation (and `stop` ends
  // at once the wait for its first page's byte budget).
  previous?.stop.abort();
  let subscription: SubscriptionState | undefined;
  const isCurrent = () => socket.connected && state.subscriptions.get(stream) === subscription;
  const stop = new AbortController();
  // The client holds the stream once told it is subscribed, by this or a superseded subscription.
  const held = { value: previous?.held.value ?? false };
  const catchUp = pendingCatchUp();
  const outcome = evaluate(ctx, socket, state, request, isCurrent, stop.signal, byClient, {
    held,
    catchUp,
  });
  subscription = { outcome, stop, held, catchUp };
  state.subscriptions.set(stream, subscription);
  subscription.outcome.catch(() => undefined);
  return subscription.outcome;
}

async function evaluate(
  ctx: ServerContext,
  socket: AnySocket,
  state: SocketState,
  request: SubscribeRequest,
  isCurrent: () => boolean,
  stop: AbortSignal,
  byClient: boolean,
  { held, catchUp }: { held: { value: boolean }; catchUp: CatchUp },
): Promise<SubscriptionOutcome> {
  const { stream } = request;
  try {
    // A storm of connections brings their subscriptions in one turn: their evaluations start
    // over turns of the pacer too (what follows the start is asynchronous, so the slice counts
    // only its first steps; the page's read and send below take turns of their own).
    const start = ctx.reads.turn();
    if (start !== undefined) {
      await start;
      if (!isCurrent()) throw superseded();
    }
    if (!(await ctx.allowed(socket, stream, "subscribe"))) {
      // Counted like a read's refusal: reads allowed before it ask again before they send.
      stateOf(socket, ctx.limits).readRefusals++;
      // Revoked: a stream the client holds is ended (`assured:unsubscribed`, no sub-error).
      if (held.value && isCurrent()) endSubscription(ctx, socket, stream, "unauthorized");
      throw new AssuredError("UNAUTHORIZED", "not allowed to subscribe to this stream.");
    }
    if (!isCurrent()) throw superseded();
    await socket.join(roomOf(stream));
    let streamLog: Awaited<ReturnType<typeof ctx.store.head>>;
    try {
      streamLog = await ctx.store.head(stream);
    } catch (error) {
      throw toStoreError(error, "head");
    }
    if (!isCurrent()) throw superseded();
    const recordAtOffset = await recordAtPosition(ctx, stream, request.position, streamLog);
    if (!isCurrent()) throw superseded();
    const outcome = decideOutcome(
      request.position,
      request.from,
      streamLog,
      ctx.limits.replayLimit,
      recordAtOffset,
      state.features.has("diverged"),
    );
    const startId = await idAtStart(ctx, stream, outcome.start, streamLog, recordAtOffset);
    if (!isCurrent()) throw superseded();
    // The first page travels with the outcome (DESIGN §8); the client fetches the rest, one
    // page at a time, when its buffer has room. Read under the socket's byte budget (G11).
    const limit = Math.min(ctx.limits.fetchLimit, streamLog.head - outcome.start);
    const page =
      limit > 0
        ? await readBudgetedPage(ctx, socket, stream, streamLog.epoch, outcome.start, limit, stop)
        : undefined;
    if (limit > 0 && page === undefined) throw superseded();
    // Records of the page only when the log is the one judged (not reset or trimmed meanwhile).
    const records =
      page !== undefined &&
      page.epoch === streamLog.epoch &&
      page.records.count > 0 &&
      page.records.first === outcome.start + 1
        ? page.records
        : packRecords([]);
    // Sent in a turn of its own when this turn's slice is spent (a storm's pages go over turns).
    const turn = ctx.reads.turn();
    if (turn !== undefined) await turn;
    if (!isCurrent()) {
      page?.drop();
      throw superseded();
    }
    // The page is work the client asked for: paid before anything is sent (G11).
    if (byClient && !ctx.rate.charge(state.bucket, replayCost(records.count))) {
      page?.drop();
      throw rateLimited();
    }
    const frame: SubscribedFrame = {
      stream,
      epoch: streamLog.epoch,
      recovered: outcome.recovered,
      ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
      start: outcome.start,
      head: streamLog.head,
      ...(startId === undefined ? {} : { startId }),
      records,
    };
    socket.emit(FRAMES.subscribed, frame);
    page?.sent();
    // The rest of `(start, head]` is pulled by fetches paid after they are answered.
    startCatchUp(catchUp, streamLog.epoch, outcome.start + records.count, streamLog.head);
    if (records.count > 0) ctx.metrics.replayed(records.count, page?.bytes ?? 0);
    held.value = true;
    // The outcome stays with the subscription while it lasts: without the page, which would
    // keep a page of records per subscription in memory.
    const { records: _records, ...settled } = frame;
    log(
      "socket %s subscribed to %o: %o (first page: %d records)",
      socket.id,
      stream,
      settled,
      records.count,
    );
    return settled;
  } catch (error) {
    fail(ctx, socket, state, stream, isCurrent, error);
    throw error;
  }
}

function superseded(): AssuredError {
  return new AssuredError("CLOSED", "the subscription was superseded or the socket disconnected.");
}

function fail(
  ctx: ServerContext,
  socket: AnySocket,
  state: SocketState,
  stream: string,
  isCurrent: () => boolean,
  error: unknown,
): void {
  if (!isCurrent()) {
    // Unsubscribed while joining (with an async adapter the join may land after the leave).
    if (!state.subscriptions.has(stream) && socket.connected) void socket.leave(roomOf(stream));
    return;
  }
  state.subscriptions.delete(stream);
  void socket.leave(roomOf(stream));
  log("subscription of socket %s to %o failed: %o", socket.id, stream, error);
  const data = ctx.answer(error, { operation: "subscribe", socket, stream });
  socket.emit(FRAMES.subscribeError, { stream, error: data });
}

/** Ends a socket's subscription to a stream (stops its evaluation and leaves the room). */
export function unsubscribeSocket(ctx: ServerContext, socket: AnySocket, stream: string): void {
  const state = stateOf(socket, ctx.limits);
  state.subscriptions.get(stream)?.stop.abort();
  state.subscriptions.delete(stream);
  void socket.leave(roomOf(stream));
}

/**
 * The server ends a subscription (DESIGN.md §8): the application's `unsubscribe` (`"server"`)
 * or a refusal of `authorize` for a stream the socket is subscribed to (`"unauthorized"`). If
 * the socket holds a subscription to the stream (`expected`, when given: that very one), it is
 * ended and the client is sent `assured:unsubscribed`, so it forgets the stream and its
 * position. Returns whether a subscription was ended.
 */
export function endSubscription(
  ctx: ServerContext,
  socket: AnySocket,
  stream: string,
  reason: UnsubscribedFrame["reason"],
  expected?: SubscriptionState,
): boolean {
  const current = stateOf(socket, ctx.limits).subscriptions.get(stream);
  if (current === undefined || (expected !== undefined && current !== expected)) return false;
  unsubscribeSocket(ctx, socket, stream);
  log("socket %s unsubscribed from %o by the server (%s)", socket.id, stream, reason);
  socket.emit(FRAMES.unsubscribed, { stream, reason } satisfies UnsubscribedFrame);
  return true;
}

/**
 * Leaves every Assured room a socket is in. A socket restored by Socket.IO's connection state
 * recovery gets its old rooms back; Assured drops them and re-evaluates the handshake, so
 * recovery never skips `authorize`.
 */
export function leaveAssuredRooms(socket: AnySocket): void {
  for (const room of socket.rooms) {
    if (room.startsWith(ROOM_PREFIX)) void socket.leave(room);
  }
}
