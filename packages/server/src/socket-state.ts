import type { AssuredErrorData } from "@assured/core";
import { RetryBarrier, type SubscribedFrame, type SubscribeRequest } from "@assured/core/protocol";
import createDebug from "debug";

/**
 * How a subscription started: the `assured:subscribed` frame without its first page
 * (`records`), which left with the frame.
 */
export type SubscriptionOutcome = Omit<SubscribedFrame, "records">;

import type { SocketBudget } from "./byte-budget.js";
import type { CatchUp } from "./catch-up-pacing.js";
import type { AssuredLimits } from "./limits.js";
import type { ReplyBatcher } from "./reply-batcher.js";
import { ReplyOrder } from "./reply-order.js";
import { SendOrder } from "./send-order.js";
import { fullBucket, type TokenBucket } from "./token-bucket.js";
import type { AnySocket } from "./wire.js";

const log = createDebug("assured:server:messages");

/** A queued client message waiting for its turn (kept encoded): handles it and sends the reply. */
export interface QueuedMessage {
  /** What it counts against `maxQueuedBytes`. */
  bytes: number;
  run(): Promise<void>;
  /** Gives up what the message holds ahead of its turn (its claim made ahead); idempotent. */
  drop(): void;
}

/** One stream subscription of a socket; replaced on resubscribe, removed on unsubscribe. */
export interface SubscriptionState {
  outcome: Promise<SubscriptionOutcome>;
  /** Aborted when the subscription is superseded or ended: its first page stops waiting at once. */
  stop: AbortController;
  /**
   * Whether the client was told it is subscribed (`assured:subscribed` sent for this or a
   * subscription it superseded): a refused `authorize` then ends it with `assured:unsubscribed`.
   */
  held: { value: boolean };
  /** The catch-up range its fetches pull, paid after (`catch-up-pacing.ts`). */
  catchUp: CatchUp;
}

/**
 * What Assured keeps per socket. It lives on the socket object itself (a non-enumerable symbol
 * property, gone with the socket) rather than in a map keyed by socket, and not in
 * `socket.data`, which cluster adapters serialize.
 */
export interface SocketState {
  /** The handshake's `auth.assured.clientId`, the default dedup principal. */
  clientId: string | undefined;
  /** Positions the handshake carried, used by server-initiated `subscribe`. */
  handshake: Map<string, SubscribeRequest>;
  /** Current subscriptions, at most `maxSubscriptionsPerSocket`. */
  subscriptions: Map<string, SubscriptionState>;
  /** Rate limit of incoming frames (`RATE_COSTS`); shared by a principal's sockets once it is known. */
  bucket: TokenBucket;
  /** Client messages behind the running one, at most `maxQueuedMessages` and `maxQueuedBytes`. */
  queue: QueuedMessage[];
  /** Bytes of the messages in `queue`. */
  queuedBytes: number;
  /** Replies to `assured:msgs` messages not sent yet, created on first use. */
  replies: ReplyBatcher | undefined;
  /** Replay pages and fetch replies in flight (`maxSocketReplayBytes`), created on first use. */
  replayBudget: SocketBudget | undefined;
  /**
   * How many subscriptions and reads `authorize` refused on this socket: a fetch or history read
   * authorized before a refusal is authorized again before its records are sent.
   */
  readRefusals: number;
  /** True while a message of this socket is being handled. */
  busy: boolean;
  /** Replies of handled messages waiting for their responses to be stored (`maxUnstoredResponses`). */
  unstored: number;
  /** Wakes the socket's drain waiting for one of `unstored` to leave, when it waits. */
  unstoredWaiter: (() => void) | undefined;
  /** Replies to the socket's messages, sent in the order their turns began (send order). */
  replyOrder: ReplyOrder;
  /** Aborts the running turn at `handlerTimeoutMs`; shared by the socket's turns until used. */
  giveUp: AbortController | undefined;
  /** Messages refused with a retryable error and not handled since: later ones wait (G10). */
  retryBarrier: RetryBarrier;
  /** The next `seq` expected when the handshake gave `firstSeq`: later ones are OUT_OF_ORDER (G10). */
  sendOrder: SendOrder;
  /** What the client understands beyond protocol version 1 (handshake `features`). */
  features: ReadonlySet<string>;
  /** The dedup principal, resolved once per socket. */
  principal: Promise<string> | undefined;
  /** The dedup principal once `principal` resolved (read per message without awaiting). */
  principalKnown: string | undefined;
  /**
   * The client speaks another protocol version (`PROTOCOL_VERSION`): every Assured frame it
   * sends is answered with this error instead of being handled.
   */
  refused: AssuredErrorData | undefined;
  /** True once the handshake was evaluated and Assured's listeners were added. */
  attached: boolean;
  /** Listeners Assured added to the socket, removed on close. */
  listeners: [event: string, listener: (...args: unknown[]) => void][];
}

const STATE = Symbol("assured.state");

/** The socket's Assured state, created on first use. */
export function stateOf(
  socket: AnySocket,
  limits: Pick<AssuredLimits, "burstTokens" | "maxQueuedMessages">,
): SocketState {
  const holder = socket as unknown as { [STATE]?: SocketState };
  let state = holder[STATE];
  if (state === undefined) {
    state = {
      clientId: undefined,
      handshake: new Map(),
      subscriptions: new Map(),
      bucket: fullBucket(limits.burstTokens, performance.now()),
      queue: [],
      queuedBytes: 0,
      replies: undefined,
      replayBudget: undefined,
      readRefusals: 0,
      busy: false,
      unstored: 0,
      unstoredWaiter: undefined,
      replyOrder: new ReplyOrder((error) => log("reply failed on socket %s: %o", socket.id, error)),
      giveUp: undefined,
      // As many outstanding refusals as messages may queue: more than any sane window.
      retryBarrier: new RetryBarrier(limits.maxQueuedMessages),
      sendOrder: new SendOrder(),
      features: new Set(),
      principal: undefined,
      principalKnown: undefined,
      refused: undefined,
      attached: false,
      listeners: [],
    };
    Object.defineProperty(holder, STATE, { value: state, enumerable: false, configurable: true });
  }
  return state;
}
