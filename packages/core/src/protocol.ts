import type { AssuredErrorData } from "./errors.js";
import type { Epoch, Offset, Position, RecoveryReason, StreamName } from "./types.js";

/**
 * The wire protocol between `@assured/server` and `@assured/client`, carried as Socket.IO
 * events on the application's namespace. `docs/protocol.md` describes every frame; bump
 * `PROTOCOL_VERSION` on any incompatible change.
 */
export const PROTOCOL_VERSION = 2;

/** Socket.IO event names used by Assured. Applications must not use the `assured:` prefix. */
export const FRAMES = {
  /** server → client: a batch of live events of one stream. */
  batch: "assured:batch",
  /** server → client: the outcome of a (re)subscription (G6). */
  subscribed: "assured:subscribed",
  /** server → client: a subscription was refused or failed. */
  subscribeError: "assured:sub-error",
  /** server → client: an error not tied to an ack (garbage frame, rate limit). */
  error: "assured:error",
  /** server → client, once per connection: the server's limits the client adapts to. */
  hello: "assured:hello",
  /** server → client: the server ended a subscription (`unsubscribe`, authorization revoked); forget it. */
  unsubscribed: "assured:unsubscribed",
  /** client → server: subscribe to a stream. */
  subscribe: "assured:sub",
  /** client → server: unsubscribe. */
  unsubscribe: "assured:unsub",
  /** client → server, with ack: fetch a range of a stream (catch-up and repair, G5, G7). */
  fetch: "assured:fetch",
  /** client → server, with ack: a page of a stream's retained log below an offset (`history`). */
  history: "assured:history",
  /** client → server, with ack: heads of streams (periodic position check, G7). */
  heads: "assured:heads",
  /** client → server, with ack: a message for a server handler (G8–G10). */
  message: "assured:msg",
  /** client → server, no ack: several messages in one packet (`message-batch.ts`). */
  messages: "assured:msgs",
  /** server → client: replies to messages of `assured:msgs` frames, several in one packet. */
  replies: "assured:replies",
} as const;

/** Prefix of the Socket.IO room that carries a stream's live events. */
export const ROOM_PREFIX = "assured:";

/** Where a subscription without a stored position starts. */
export type StartFrom = "earliest" | "head";

/** A subscription request, in the handshake or in a `subscribe` frame. */
export interface SubscribeRequest {
  stream: StreamName;
  /**
   * The consumer's stored position `{ epoch, offset, id? }` (`id`: the event at `offset`, which
   * the server checks to detect a diverged log), or null for a fresh subscription.
   */
  position: Position | null;
  /** For a fresh subscription: replay the retained log, or start live at the head. */
  from: StartFrom;
}

/**
 * What a client understands beyond version 1 of the protocol, announced in the handshake:
 * `"diverged"`, the recovery reason (older clients refuse a reason they do not know, so a
 * server gives them `"epoch"` instead where it can).
 */
export type ProtocolFeature = "diverged";

/** The features this version of the client announces. */
export const CLIENT_FEATURES: readonly ProtocolFeature[] = ["diverged"];

/** The `auth.assured` field of the Socket.IO handshake, evaluated at every (re)connect. */
export interface HandshakeAuth {
  v: number;
  /** Stable per client (persisted with the outbox); the default dedup principal. */
  clientId: string;
  subscriptions: SubscribeRequest[];
  /**
   * The lowest `seq` of this connection's outbox session still unanswered (or the next one it
   * will use when none waits). The server refuses, with the retryable `OUT_OF_ORDER`, a message
   * whose `prev` (its closest earlier unanswered message) has not arrived on this connection
   * (send order, G10).
   */
  firstSeq?: number;
  /** What the client understands beyond version 1 (`CLIENT_FEATURES`); unknown ones are ignored. */
  features?: string[];
}

/** server → client `assured:hello`, sent once when a socket connects. */
export interface HelloFrame {
  /**
   * The server's protocol version (`PROTOCOL_VERSION`; absent from version 1 servers): a client
   * of another version reports `PROTOCOL_VERSION` instead of misreading its frames.
   */
  v?: number;
  /** How long the server remembers a handled message (its dedup window), in ms. */
  dedupTtlMs: number;
}

/** server → client `assured:unsubscribed`: the subscription ended; the client forgets the stream. */
export interface UnsubscribedFrame {
  stream: StreamName;
  /** `"server"`: the application called `unsubscribe`; `"unauthorized"`: `authorize` refused it. */
  reason: "server" | "unauthorized";
}

/**
 * One record as a store packs it (`EventStore.readPacked`): [offset, id, name,
 * payloadByteLength, time]; the server sends pages as a `WirePage`.
 */
export type WireRecord = [Offset, string, string, number, number];

/**
 * Bytes in a frame: a padded base64 string (small frames, no binary attachment: one WebSocket
 * frame) or one binary attachment (larger ones; Socket.IO's parser refuses packets with more
 * than 10 of them).
 */
export type WirePayloads = Uint8Array | string;

/**
 * Records on the wire, in columns (`packRecords`, `unpackRecords`; docs/protocol.md "Records on
 * the wire"): consecutive records from `first`.
 */
export interface WirePage {
  /** The first record's offset; the others follow one by one (0 when `count` is 0). */
  first: Offset;
  /** How many records. */
  count: number;
  /** Payload bytes at the start of `columns`: every payload, concatenated in record order. */
  bytes: number;
  /** Every record's id, concatenated in record order. */
  ids: string;
  /** The distinct event names, in order of first use. */
  names: string[];
  /**
   * The payloads (`bytes` of them), then per record its time (little-endian float64) and, as
   * unsigned LEB128 varints, its id's length in UTF-16 code units, its name's index in `names`
   * and its payload's length.
   */
  columns: WirePayloads;
}

/** server → client `assured:batch` (live events only). Records are consecutive and in offset order. */
export interface BatchFrame {
  stream: StreamName;
  epoch: Epoch;
  records: WirePage;
}

/**
 * server → client `assured:subscribed`: the outcome, the log's `(epoch, head)` and the first
 * page of records after `start` (at most the server's `fetchLimit` records and `maxBatchBytes`
 * of payloads); the client fetches the rest (DESIGN §8).
 */
export interface SubscribedFrame {
  stream: StreamName;
  epoch: Epoch;
  recovered: boolean;
  reason?: RecoveryReason;
  /** Events after this offset follow (the first page, fetches, live batches). */
  start: Offset;
  /** The stream's head when the subscription was evaluated. */
  head: Offset;
  /**
   * The id of the event at `start` (absent at offset 0, when that event is no longer retained,
   * and from older servers): the client's position `(epoch, start, startId)` is checked on its
   * next resume even before it processed an event.
   */
  startId?: string;
  /** The first page: records `start + 1 …`, consecutive (possibly none). */
  records: WirePage;
}

/** server → client `assured:sub-error`. */
export interface SubscribeErrorFrame {
  stream: StreamName;
  error: AssuredErrorData;
}

/** client → server `assured:fetch` (with ack). */
export interface FetchRequest {
  stream: StreamName;
  epoch: Epoch;
  after: Offset;
  limit: number;
}

/** Ack of `assured:fetch`. */
export type FetchReply =
  | {
      ok: true;
      epoch: Epoch;
      head: Offset;
      earliest: Offset;
      records: WirePage;
    }
  | { ok: false; error: AssuredErrorData };

/**
 * client → server `assured:history` (with ack): the newest retained events of `stream` with
 * offsets below `before` (absent: up to the head), at most `limit` of them. It reads the log
 * only; no subscription or position is involved.
 */
export interface HistoryRequest {
  stream: StreamName;
  before?: Offset;
  limit: number;
}

/**
 * Ack of `assured:history`, shaped like a fetch reply: consecutive records in offset order,
 * ending right below `before` (or at the head), fewer than `limit` when their payloads would
 * exceed the server's `maxBatchBytes` (the newest record always fits).
 */
export type HistoryReply = FetchReply;

/** client → server `assured:heads` (with ack): streams to check. */
export interface HeadsRequest {
  streams: StreamName[];
}

/** Ack of `assured:heads`: per stream, its epoch and head (streams the socket may not read are left out). */
export type HeadsReply =
  | { ok: true; heads: Record<StreamName, { epoch: Epoch; head: Offset }> }
  | { ok: false; error: AssuredErrorData };

/** client → server `assured:msg` (with ack). */
export interface MessageFrame {
  id: string;
  seq: number;
  name: string;
  payload: Uint8Array;
  /**
   * The message's age when sent, in ms (now − its creation time, both on the client's clock, so
   * clock skew does not matter). The server answers `EXPIRED` instead of running a message
   * older than its dedup window (or than `ttl`).
   */
  age?: number;
  /** The sender's own limit on the message's age (`messageTtlMs`), in ms. */
  ttl?: number;
  /**
   * The `seq` of the closest earlier message of the same outbox session still unanswered when
   * this one was sent; absent when none was. With a handshake `firstSeq`, the server refuses
   * the message (`OUT_OF_ORDER`, `details.waitingForSeq: prev`) until `prev` has arrived on the
   * connection — so no message overtakes an earlier unanswered one, and an answered one in
   * between (a final error) never blocks the session.
   */
  prev?: number;
}

/**
 * Ack of `assured:msg`. `ok: true` carries the handler's encoded result; `ok: false` with
 * `stored: true` is the application error the handler threw (stored, final); without `stored`
 * it is a protocol-level failure (`IDEMPOTENCY_CONFLICT`, `RATE_LIMITED`, `STORE_UNAVAILABLE`…),
 * and only retryable codes are retried by the client.
 */
export type MessageReply =
  | { id: string; ok: true; payload: Uint8Array }
  | { id: string; ok: false; stored: true; payload: Uint8Array }
  | { id: string; ok: false; stored?: false; error: AssuredErrorData };
