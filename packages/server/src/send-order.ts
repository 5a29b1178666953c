import { AssuredError, type AssuredErrorData } from "@assured/core";

/**
 * Send order is wire order (G10, DESIGN.md §8). A client that reconnects resends its unanswered
 * messages in `seq` order, but a packet of the old connection still in a send buffer, or a
 * message sent while the resends are being written, could reach the server ahead of an earlier
 * one. The handshake names the lowest `seq` the client's outbox session still waits for
 * (`auth.assured.firstSeq`), and each message names `prev`, the closest earlier message of its
 * session that was unanswered when it was sent. Every seq below the highest one seen (and below
 * `firstSeq`) has arrived or been answered, so:
 *
 * - `prev` at or above the next expected seq: `prev` has not arrived yet — refused with the
 *   retryable `OUT_OF_ORDER` (`details.waitingForSeq: prev`), not queued, and not recorded
 *   anywhere else (so the retry barrier does not hold later messages back for it): the client
 *   resends it right after `prev`;
 * - otherwise it goes on as before, and the expected seq moves past it. A message answered in
 *   between (a final error at arrival) is skipped by `prev`, so it never blocks the session.
 *
 * Checked for every frame whose `seq` is readable, before anything else may refuse it (rate
 * limit, bad fields, full queue): a message that arrived in order counts as arrived whatever
 * its answer, and the retry barrier keeps the handling order of the ones refused after that.
 * Without `firstSeq` (older clients) nothing is checked. One number per socket.
 */
export class SendOrder {
  #expected: number | undefined;

  constructor(firstSeq: number | undefined = undefined) {
    this.#expected = firstSeq;
  }

  /** The lowest seq not seen yet on this connection, if the client gave `firstSeq`. */
  get expected(): number | undefined {
    return this.#expected;
  }

  /** Checks message `seq` (sent after `prev`) arriving now: its refusal, or undefined. */
  atArrival(seq: number, prev: number | undefined): AssuredErrorData | undefined {
    const expected = this.#expected;
    if (expected === undefined) return undefined;
    if (prev !== undefined && prev < seq && prev >= expected) {
      return new AssuredError(
        "OUT_OF_ORDER",
        `message seq ${seq} arrived before seq ${prev} of the same session; it was not run. ` +
          `Resend it after seq ${prev} (send order, G10).`,
        { details: { waitingForSeq: prev } },
      ).toJSON();
    }
    this.#expected = Math.max(expected, seq + 1);
    return undefined;
  }
}
