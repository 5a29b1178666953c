import type { Epoch, Offset } from "@assured/core";
import type { FetchReply, FetchRequest } from "@assured/core/protocol";

/**
 * How a subscription's catch-up is paced (G11, DESIGN §8): like the first protocol's replay,
 * the catch-up range of a subscription is admitted with the subscription (which a client pays
 * for while its bucket is not empty), and the fetches that pull it are paid after, whether or
 * not the bucket holds their cost; the debt they leave bounds the socket's next frames.
 *
 * A fetch pulls the catch-up (`continuation`) when it asks for the subscribed stream in the
 * subscription's epoch, `after` the last record the catch-up served and below the highest head
 * the subscription saw (from its outcome and its replies), while no other one is in flight. So
 * each record of the log is served this way at most once per subscription, and every such fetch
 * serves at least one record the client had not been sent by the catch-up: a client cannot turn
 * it into unpaced reads (re-reads, fetches of other streams, concurrent fetches, history reads
 * and fetches past the head are charged up front as before), and the byte budgets per socket and
 * server bound it like any read.
 */
export interface CatchUp {
  /** The subscription's epoch; `undefined` until its outcome was sent, or once the log changed. */
  epoch: Epoch | undefined;
  /** The records up to here were served by the first page or by a continuation. */
  served: Offset;
  /** The highest head the subscription saw in `epoch`: the catch-up range ends there. */
  head: Offset;
  /** True while a continuation is in flight. */
  busy: boolean;
}

/** A catch-up of a subscription whose outcome was not sent yet: nothing pulls it. */
export function pendingCatchUp(): CatchUp {
  return { epoch: undefined, served: 0, head: 0, busy: false };
}

/** The subscription's outcome was sent: its catch-up is `(served, head]` in `epoch`. */
export function startCatchUp(catchUp: CatchUp, epoch: Epoch, served: Offset, head: Offset): void {
  catchUp.epoch = epoch;
  catchUp.served = served;
  catchUp.head = head;
  catchUp.busy = false;
}

/** Ends a claimed continuation with its reply (undefined when it was not answered). */
export type SettleContinuation = (reply: FetchReply | undefined) => void;

/**
 * Claims `request` as the continuation of `catchUp` (marks it busy) and returns how to settle
 * it once answered, or returns undefined when the request is to be charged as an ordinary fetch.
 * Settling frees the catch-up for the next continuation: what the reply served is no longer part
 * of it, and a higher head extends it; a reply of another epoch, or one that served nothing (the
 * log is not what the catch-up saw), ends it.
 */
export function claimContinuation(
  catchUp: CatchUp | undefined,
  request: FetchRequest,
): SettleContinuation | undefined {
  if (catchUp === undefined || catchUp.busy || catchUp.epoch !== request.epoch) return undefined;
  if (request.after < catchUp.served || request.after >= catchUp.head) return undefined;
  catchUp.busy = true;
  return (reply) => {
    catchUp.busy = false;
    if (reply === undefined || !reply.ok) return;
    const { first, count } = reply.records;
    const last = first + count - 1;
    if (reply.epoch !== catchUp.epoch || count === 0 || last <= request.after) {
      catchUp.epoch = undefined;
      return;
    }
    catchUp.served = last;
    catchUp.head = Math.max(catchUp.head, reply.head);
  };
}
