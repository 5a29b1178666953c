import { AssuredError } from "@assured/core";
import {
  type FetchReply,
  FRAMES,
  type HelloFrame,
  type MessageReply,
  PROTOCOL_VERSION,
  parseFetch,
  parseHandshake,
  parseHeads,
  parseHistory,
  parseMessage,
  parseSubscribeRequest,
  parseUnsubscribe,
  readableSeq,
  type SubscribeRequest,
  streamOf,
  unpackMessageBatch,
} from "@assured/core/protocol";
import createDebug from "debug";
import { claimContinuation, type SettleContinuation } from "./catch-up-pacing.js";
import type { ServerContext } from "./context.js";
import type { MessageDispatcher } from "./messages.js";
import {
  fetchReplyCost,
  fetchReservation,
  headsCost,
  historyReplyCost,
  messageCost,
  RATE_COSTS,
  rateLimited,
} from "./rate-limit.js";
import { fetchRange, readHeads, readHistory } from "./reads.js";
import { ReplyBatcher } from "./reply-batcher.js";
import { SendOrder } from "./send-order.js";
import { stateOf } from "./socket-state.js";
import { leaveAssuredRooms, subscribeSocket, unsubscribeSocket } from "./subscriptions.js";
import { type AnySocket, badFrame, sendError } from "./wire.js";

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
  // Once per binding, before anything else Assured sends: the limits the client adapts to.
  socket.emit(FRAMES.hello, {
    v: PROTOCOL_VERSION,
    dedupTtlMs: ctx.limits.dedupTtlMs,
  } satisfies HelloFrame);
  if (socket.recovered) leaveAssuredRooms(socket);
  // With an identify hook the principal's sockets share one rate-limit bucket (from the moment
  // identify resolves; what the socket spent before is owed to the shared bucket).
  if (ctx.identify !== undefined) {
    dispatcher.principal(socket).then(
      (principal) => {
        state.bucket = ctx.rate.shared(principal, state.bucket);
      },
      () => undefined, // stays on its own bucket; its messages report UNAUTHORIZED
    );
  }

  const listen = (event: string, listener: (args: unknown[]) => void | Promise<void>) => {
    const guarded = (...args: unknown[]) => {
      // A client of another protocol version: nothing of it is handled (its frames would be
      // misread); each frame is answered with the version error.
      if (state.refused !== undefined && event.startsWith("assured:")) {
        const last = args[args.length - 1];
        const error = state.refused;
        if (typeof last !== "function") sendError(socket, error);
        else if (event !== FRAMES.message) last({ ok: false, error });
        else {
          // A message reply always names the message (`""` when its id cannot be read).
          const id = (args[0] as { id?: unknown } | null)?.id;
          last({ id: typeof id === "string" && id.length <= 256 ? id : "", ok: false, error });
        }
        return;
      }
      try {
        const done = listener(args);
        if (done instanceof Promise)
          done.catch((error) => internalError(ctx, socket, event, error));
      } catch (error) {
        internalError(ctx, socket, event, error);
      }
    };
    socket.on(event, guarded);
    state.listeners.push([event, guarded]);
  };
  // Every frame is charged for its work (RATE_COSTS); a refused frame takes no tokens.
  const withinRate = (cost: number = RATE_COSTS.frame) => ctx.rate.take(state.bucket, cost);
  // The wire error for a refusal or failure of `operation`, reported first (`ctx.answer`).
  const answer = (error: unknown, operation: string) => ctx.answer(error, { operation, socket });
  const refuse = (error: unknown, operation: string) => sendError(socket, answer(error, operation));

  listen(FRAMES.subscribe, ([frame]) => {
    // A refusal names the stream when it can, so the client knows which one to retry.
    if (!withinRate()) return rejectSubscription(ctx, socket, streamOf(frame), rateLimited());
    let request: SubscribeRequest;
    try {
      request = parseSubscribeRequest(frame);
    } catch (error) {
      return rejectSubscription(ctx, socket, streamOf(frame), error);
    }
    subscribeSocket(ctx, socket, request, true).catch(() => undefined);
  });

  listen(FRAMES.unsubscribe, ([frame]) => {
    if (!withinRate()) return refuse(rateLimited(), "unsubscribe");
    unsubscribeSocket(ctx, socket, parseUnsubscribe(frame));
  });

  // A read with an ack (`assured:fetch`, `assured:history`): reserves the records it may read;
  // once the reply is sent, what it did not read is given back and the bytes it sent are paid
  // (RATE_COSTS). A fetch that pulls a subscription's catch-up reserves nothing and is paid
  // after, even into debt (`catch-up-pacing.ts`).
  const listenRead = <R extends { limit: number }>(
    frame: typeof FRAMES.fetch | typeof FRAMES.history,
    operation: "fetch" | "history",
    parse: (value: unknown) => R,
    serve: (request: R, ack: (reply: FetchReply) => void) => Promise<void>,
    cost: (request: R, reply: FetchReply) => number,
    claimCatchUp: (request: R) => SettleContinuation | undefined = () => undefined,
  ) =>
    listen(frame, async (args) => {
      const [value, ack] = splitAck(args);
      const request = attempt(() => parse(value));
      const continuation = request instanceof Failure ? undefined : claimCatchUp(request);
      const reserved =
        continuation !== undefined
          ? 0
          : request instanceof Failure
            ? RATE_COSTS.frame
            : fetchReservation(request.limit);
      const bucket = state.bucket;
      const allowed = continuation !== undefined || withinRate(reserved);
      if (ack === undefined) {
        continuation?.(undefined);
        return refuse(allowed ? badFrame(`${frame} needs an ack.`) : rateLimited(), operation);
      }
      let used: number = RATE_COSTS.frame;
      let answered: FetchReply | undefined;
      try {
        if (!allowed) throw rateLimited();
        if (request instanceof Failure) throw request.error;
        await serve(request, (reply) => {
          used = cost(request, reply);
          answered = reply;
          ack(reply);
        });
      } catch (error) {
        ack({ ok: false, error: answer(error, operation) });
      } finally {
        continuation?.(answered);
        if (allowed) ctx.rate.settle(bucket, reserved, used);
      }
    });
  const { fetchLimit } = ctx.limits;
  listenRead(
    FRAMES.fetch,
    "fetch",
    (value) => parseFetch(value, fetchLimit),
    (request, ack) => fetchRange(ctx, socket, request, ack),
    fetchReplyCost,
    (request) => claimContinuation(state.subscriptions.get(request.stream)?.catchUp, request),
  );
  listenRead(
    FRAMES.history,
    "history",
    (value) => parseHistory(value, fetchLimit),
    (request, ack) => readHistory(ctx, socket, request, ack),
    historyReplyCost,
  );

  listen(FRAMES.heads, async (args) => {
    const [frame, ack] = splitAck(args);
    const streams = attempt(() => parseHeads(frame, ctx.limits.maxHeadsStreams));
    const allowed = withinRate(
      streams instanceof Failure ? RATE_COSTS.frame : headsCost(streams.length),
    );
    if (ack === undefined) {
      return refuse(allowed ? badFrame("assured:heads needs an ack.") : rateLimited(), "heads");
    }
    try {
      if (!allowed) throw rateLimited();
      if (streams instanceof Failure) throw streams.error;
      ack(await readHeads(ctx, socket, streams));
    } catch (error) {
      ack({ ok: false, error: answer(error, "heads") });
    }
  });

  /**
   * One client message (alone in `assured:msg`, or one of an `assured:msgs` frame): charged
   * its own tokens, checked for send order, parsed and queued; every outcome goes to `reply`.
   */
  const acceptMessage = (frame: unknown, reply: (reply: MessageReply) => void) => {
    const payload = (frame as { payload?: unknown } | null)?.payload;
    const allowed = withinRate(messageCost(payload instanceof Uint8Array ? payload.byteLength : 0));
    const rawId = (frame as { id?: unknown } | null)?.id;
    const id = typeof rawId === "string" && rawId.length <= 256 ? rawId : "";
    const seq = readableSeq(frame);
    // Send order first (G10): a message that arrived in order counts as arrived whatever its
    // answer; one ahead of an earlier one is refused and noted nowhere else (send-order.ts).
    const outOfOrder =
      seq === undefined ? undefined : state.sendOrder.atArrival(seq, readablePrev(frame));
    if (outOfOrder !== undefined) return reply({ id, ok: false, error: outOfOrder });
    try {
      if (!allowed) throw rateLimited();
      const message = parseMessage(frame, ctx.limits.maxPayloadBytes);
      dispatcher.enqueue(socket, message, reply);
    } catch (error) {
      const refused: MessageReply = { id, ok: false, error: answer(error, "message") };
      if (seq !== undefined) state.retryBarrier.note(seq, refused.error);
      reply(refused);
    }
  };

  listen(FRAMES.message, (args) => {
    const [frame, ack] = splitAck(args);
    if (ack === undefined) {
      const payload = (frame as { payload?: unknown } | null)?.payload;
      const allowed = withinRate(
        messageCost(payload instanceof Uint8Array ? payload.byteLength : 0),
      );
      return refuse(allowed ? badFrame("assured:msg needs an ack.") : rateLimited(), "message");
    }
    acceptMessage(frame, ack);
  });

  // Several messages in one packet; each is handled as if it came alone, in frame order, and
  // its reply leaves in an `assured:replies` packet with the others ready in the same turn.
  listen(FRAMES.messages, (args) => {
    const [frame] = args;
    let messages: Array<Record<string, unknown>>;
    try {
      messages = unpackMessageBatch(frame);
    } catch (error) {
      // A frame that cannot be split names no message: its client times out and resends.
      return refuse(withinRate() ? error : rateLimited(), "message");
    }
    state.replies ??= new ReplyBatcher(socket);
    const replies = state.replies;
    const reply = (answer: MessageReply) => replies.push(answer);
    for (const message of messages) acceptMessage(message, reply);
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

/** Removes Assured's listeners from a socket and ends its subscriptions. */
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
    state.sendOrder = new SendOrder(handshake.firstSeq);
    state.features = handshake.features;
    subscriptions = handshake.subscriptions;
  } catch (error) {
    log("bad handshake from socket %s: %o", socket.id, error);
    const answer = ctx.answer(error, { operation: "handshake", socket });
    if (answer.code === "PROTOCOL_VERSION") state.refused = answer;
    sendError(socket, answer);
    return;
  }
  const requests: SubscribeRequest[] = [];
  for (const value of subscriptions) {
    try {
      const request = parseSubscribeRequest(value);
      state.handshake.set(request.stream, request);
      requests.push(request);
    } catch (error) {
      rejectSubscription(ctx, socket, streamOf(value), error);
    }
  }
  for (const request of requests) {
    if (state.subscriptions.has(request.stream)) continue;
    // Each subscription costs a token: those beyond the bucket get the retryable RATE_LIMITED,
    // naming the stream, and the client subscribes them again after a backoff.
    if (!ctx.rate.take(state.bucket, RATE_COSTS.frame)) {
      rejectSubscription(ctx, socket, request.stream, rateLimited());
      continue;
    }
    subscribeSocket(ctx, socket, request, true).catch(() => undefined);
  }
}

/** A parse failure, kept to be reported after the frame was charged. */
class Failure {
  constructor(readonly error: unknown) {}
}

function attempt<T>(parse: () => T): T | Failure {
  try {
    return parse();
  } catch (error) {
    return new Failure(error);
  }
}

function rejectSubscription(
  ctx: ServerContext,
  socket: AnySocket,
  stream: string | undefined,
  error: unknown,
): void {
  const data = ctx.answer(error, { operation: "subscribe", socket, ...(stream ? { stream } : {}) });
  if (stream === undefined) sendError(socket, data);
  else socket.emit(FRAMES.subscribeError, { stream, error: data });
}

/** The `prev` of a message frame, when it is readable (checked fully by `parseMessage`). */
function readablePrev(frame: unknown): number | undefined {
  const prev = (frame as { prev?: unknown } | null)?.prev;
  return typeof prev === "number" && Number.isSafeInteger(prev) && prev >= 0 ? prev : undefined;
}

function splitAck(args: unknown[]): [frame: unknown, ack: AckFn | undefined] {
  const last = args[args.length - 1];
  if (typeof last !== "function") return [args[0], undefined];
  return [args.length > 1 ? args[0] : undefined, last as AckFn];
}

function internalError(ctx: ServerContext, socket: AnySocket, event: string, error: unknown): void {
  if (!(error instanceof AssuredError)) log("%s on socket %s failed: %o", event, socket.id, error);
  sendError(socket, ctx.answer(error, { operation: event, socket }));
}
