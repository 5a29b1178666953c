/** A stream's name: 1–256 characters of UTF-8, treated by stores as opaque data. */
export type StreamName = string;

/**
 * A position in a stream's log. Offsets are 1, 2, 3… assigned at append, gapless and strictly
 * increasing; 0 means "before the first event".
 */
export type Offset = number;

/**
 * Names one incarnation of a stream's log. It stays the same across restarts and changes if and
 * only if the log was lost or reset. The empty string means "this stream has no log yet"; a
 * position at offset 0 is valid in every epoch.
 */
export type Epoch = string;

/**
 * How far a consumer has processed a stream: `(epoch, offset, id)`, `id` being the id of the
 * event at `offset` (the last one processed). On resume the server checks that the record at
 * `offset` still has that id, which detects a log that diverged within an epoch (a store
 * restored from an older snapshot, a failover that lost writes). A position without an `id`
 * (offset 0, one taken from a subscription outcome before any event was processed, or stored
 * by an older client) is resumed without that check.
 */
export interface Position {
  epoch: Epoch;
  offset: Offset;
  /** The id of the event at `offset`, when known. */
  id?: string;
}

/** One stored event of a stream. */
export interface EventRecord {
  stream: StreamName;
  offset: Offset;
  /** Unique within the stream: the publisher's idempotency id, or a generated one. */
  id: string;
  /** The event name handlers subscribe to. */
  name: string;
  /** The encoded data (see `encode`/`decode`). */
  payload: Uint8Array;
  /** Append time, milliseconds since the Unix epoch, from the store's clock. */
  time: number;
}

/** A client → server message as it travels and is deduplicated. */
export interface ClientMessage {
  /** Unguessable idempotency key. */
  id: string;
  /** The client's send order, 1, 2, 3… per client. */
  seq: number;
  name: string;
  payload: Uint8Array;
}

/**
 * Why a (re)subscription could not recover every missed event (G6): `epoch` (the log was reset
 * or lost), `diverged` (the log was rewritten under the position within its epoch: the event at
 * the position's offset is another one, or the head is below it), `trimmed` (older than
 * retention), `limit` (more missed than the replay cap).
 */
export type RecoveryReason = "epoch" | "diverged" | "trimmed" | "limit";

/** The outcome reported for each (re)subscription (G6). */
export interface RecoveryOutcome {
  stream: StreamName;
  recovered: boolean;
  reason?: RecoveryReason;
  /** The position the consumer continues from. */
  position: Position;
}

/** A clock in milliseconds; inject one to make time-based logic testable. */
export type Clock = () => number;

/** The wall clock. */
export const systemClock: Clock = () => Date.now();
