import { AssuredError, type AssuredErrorData } from "@assured/core";

/**
 * Send order is wire order (G10, DESIGN.md §8). A client that reconnects resends its unanswered
 * messages in `seq` order, but a packet of the old connection still in a send buffer, or a
 * message sent while the resends are being written, could reach the server ahead of an earlier
 * one. The handshake names the lowest `seq` the client's outbox session still waits for
 * (`auth.assured.firstSeq`); from then on each `seq` must arrive after every lower one:
 *
 * - `seq` above the next expected one: refused with the retryable `OUT_OF_ORDER`
 *   (`details.waitingForSeq`), not queued, and not recorded anywhere else (so the retry barrier
 *   does not hold later messages back for it): the client resends it after the one it waits for;
 * - `seq` equal to it: the next one is expected, and the message goes on as before;
 * - `seq` below it: a resend, it goes on as before (the dedup store answers a copy that ran).
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

  /** The seq the next message in order must carry, if the client gave `firstSeq`. */
  get expected(): number | undefined {
    return this.#expected;
  }

  /** Checks message `seq` arriving now: its refusal, or undefined when it may go on. */
  atArrival(seq: number): AssuredErrorData | undefined {
    const expected = this.#expected;
    if (expected === undefined || seq < expected) return undefined;
    if (seq === expected) {
      this.#expected = expected + 1;
      return undefined;
    }
    return new AssuredError(
      "OUT_OF_ORDER",
      `message seq ${seq} arrived before seq ${expected} of the same session; it was not run. ` +
        `Resend it after seq ${expected} (send order, G10).`,
      { details: { waitingForSeq: expected } },
    ).toJSON();
  }
}
