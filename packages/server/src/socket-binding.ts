import { AssuredError, FRAMES, type MessageReply, type SubscribeRequest } from "@assured/core";
import createDebug from "debug";
import type { ServerContext } from "./context.js";
import {
  parseFetch,
  parseHandshake,
  parseHeads,
  parseMessage,
  parseSubscribeRequest,
  parseUnsubscribe,
  streamOf,
} from "./frames.js";
import type { MessageDispatcher } from "./messages.js";
import { fetchRange, readHeads } from "./reads.js";
import { readableSeq } from "./retry-barrier.js";
import { stateOf } from "./socket-state.js";
import { leaveAssuredRooms, subscribeSocket, unsubscribeSocket } from "./subscriptions.js";
import { takeToken } from "./token-bucket.js";
import { type AnySocket, badFrame, sendError, toErrorData } from "./wire.js";

const log = createDebug("assured:server");

// biome-ignore lint/suspicious/noExplicitAny: Socket.IO acks take any arguments.
type AckFn = (...args: any[]) => void;

/**
 * Binds Assured to one socket: evaluates the handshake's subscriptions and listens to the
 * client frames. Every listener is guarded: a bad frame gets a typed error (its ack when it has
 * one, else `assured:error`) and never throws into Socket.IO.
 */
export function attachSocket(
  ctx: ServerContext,
  dispatcher: MessageDispatcher,
  socket: AnySocket,
): void {
  const state = stateOf(socket, ctx.limits);
  if (state.attached) return;
  state.attached = true;
  if (socket.recovered) leaveAssuredRooms(socket);

  const listen = (event: string, listener: (args: unknown[]) => void | Promise<void>) => {
    const guarded = (...args: unknown[]) => {
      try {
        const done = listener(args);
        if (done instanceof Promise) done.catch((error) => internalError(socket, event, error));
      } catch (error) {
        internalError(socket, event, error);
      }
    };
    socket.on(event, guarded);
    state.listeners.push([event, guarded]);
  };
  const withinRate = () =>
    takeToken(state.bucket, ctx.limits.messagesPerSecond, ctx.limits.burst, Date.now());
  const rateLimited = () =>
    new AssuredError("RATE_LIMITED", "too many frames from this socket; slow down and retry.");

  listen(FRAMES.subscribe, ([frame]) => {
    // A refusal names the stream when it can, so the client knows which one to retry.
    if (!withinRate()) return rejectSubscription(socket, streamOf(frame), rateLimited());
    let request: SubscribeRequest;
    try {
      request = parseSubscribeRequest(frame);
    } catch (error) {
      return rejectSubscription(socket, streamOf(frame), error);
    }
    subscribeSocket(ctx, socket, request).catch(() => undefined);
  });

  listen(FRAMES.unsubscribe, ([frame]) => {
    if (!withinRate()) return sendError(socket, rateLimited());
    unsubscribeSocket(ctx, socket, parseUnsubscribe(frame));
  });

  listen(FRAMES.fetch, async (args) => {
    const [frame, ack] = splitAck(args);
    const allowed = withinRate();
    if (ack === undefined) {
      return sendError(socket, allowed ? badFrame("assured:fetch needs an ack.") : rateLimited());
    }
    try {
      if (!allowed) throw rateLimited();
      ack(await fetchRange(ctx, socket, parseFetch(frame, ctx.limits.fetchLimit)));
    } catch (error) {
      ack({ ok: false, error: toErrorData(error) });
    }
  });

  listen(FRAMES.heads, async (args) => {
    const [frame, ack] = splitAck(args);
    const allowed = withinRate();
    if (ack === undefined) {
      return sendError(socket, allowed ? badFrame("assured:heads needs an ack.") : rateLimited());
    }
    try {
      if (!allowed) throw rateLimited();
      ack(await readHeads(ctx, socket, parseHeads(frame, ctx.limits.maxHeadsStreams)));
    } catch (error) {
      ack({ ok: false, error: toErrorData(error) });
    }
  });

  listen(FRAMES.message, (args) => {
    const [frame, ack] = splitAck(args);
    const allowed = withinRate();
    if (ack === undefined) {
      return sendError(socket, allowed ? badFrame("assured:msg needs an ack.") : rateLimited());
    }
    const rawId = (frame as { id?: unknown } | null)?.id;
    const id = typeof rawId === "string" && rawId.length <= 256 ? rawId : "";
    try {
      if (!allowed) throw rateLimited();
      const message = parseMessage(frame, ctx.limits.maxPayloadBytes);
      const data = dispatcher.decodeData(message);
      dispatcher.enqueue(socket, message, data, ack);
    } catch (error) {
      const reply: MessageReply = { id, ok: false, error: toErrorData(error) };
      const seq = readableSeq(frame);
      if (seq !== undefined) state.retryBarrier.note(seq, reply.error);
      ack(reply);
    }
  });

  // Leave the stream rooms before Socket.IO persists the session for connection state
  // recovery: a restored session must not get the packets of streams published while it was
  // away, before `authorize` ran again. Assured's own replay covers the gap after it did.
  listen("disconnecting", () => leaveAssuredRooms(socket));

  listen("disconnect", () => {
    dispatcher.dropQueued(socket);
    state.subscriptions.clear();
  });

  evaluateHandshake(ctx, socket);
}

/** Removes Assured's listeners from a socket and stops its subscriptions' replays. */
export function detachSocket(ctx: ServerContext, socket: AnySocket): void {
  const state = stateOf(socket, ctx.limits);
  for (const [event, listener] of state.listeners.splice(0)) socket.off(event, listener);
  state.subscriptions.clear();
  state.attached = false;
}

function evaluateHandshake(ctx: ServerContext, socket: AnySocket): void {
  const state = stateOf(socket, ctx.limits);
  const auth = (socket.handshake.auth as Record<string, unknown> | undefined)?.assured;
  let subscriptions: unknown[];
  try {
    const handshake = parseHandshake(auth, ctx.limits.maxSubscriptionsPerSocket);
    if (handshake === undefined) return;
    state.clientId = handshake.clientId;
    subscriptions = handshake.subscriptions;
  } catch (error) {
    log("bad handshake from socket %s: %o", socket.id, error);
    sendError(socket, error);
    return;
  }
  const requests: SubscribeRequest[] = [];
  for (const value of subscriptions) {
    try {
      const request = parseSubscribeRequest(value);
      state.handshake.set(request.stream, request);
      requests.push(request);
    } catch (error) {
      rejectSubscription(socket, streamOf(value), error);
    }
  }
  for (const request of requests) {
    if (state.subscriptions.has(request.stream)) continue;
    subscribeSocket(ctx, socket, request).catch(() => undefined);
  }
}

function rejectSubscription(socket: AnySocket, stream: string | undefined, error: unknown): void {
  if (stream === undefined) sendError(socket, error);
  else socket.emit(FRAMES.subscribeError, { stream, error: toErrorData(error) });
}

function splitAck(args: unknown[]): [frame: unknown, ack: AckFn | undefined] {
  const last = args[args.length - 1];
  if (typeof last !== "function") return [args[0], undefined];
  return [args.length > 1 ? args[0] : undefined, last as AckFn];
}

function internalError(socket: AnySocket, event: string, error: unknown): void {
  if (!(error instanceof AssuredError)) log("%s on socket %s failed: %o", event, socket.id, error);
  sendError(socket, error);
}
