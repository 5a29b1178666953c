import { AssuredError, type AssuredErrorCode, type AssuredErrorData } from "./errors.js";
import { RETRYABLE_CODES } from "./outbox.js";

/**
 * Send order across retries (G10). A client keeps a window of messages in flight; when one of
 * them is refused with a retryable error (the dedup store is down, the socket's queue is full,
 * it was rate limited…) later ones are already on their way, and handling them would let them
 * overtake the refused one. So each socket remembers the messages it refused, and refuses every
 * later message (`seq` above the lowest refused one) with that one's code and
 * `details.waitingForSeq`. The client resends in `seq` order, so the refused message comes
 * back first.
 *
 * Two views, because a refusal can happen when a frame arrives (rate limit, full queue) or when
 * its turn in the socket's queue comes (store down): at arrival a message waits for refused
 * messages that have not come back yet; at its turn, for refused messages not handled yet. So a
 * resent window passes arrival in one go and is still handled in order.
 *
 * Bounded (G11): each view remembers at most `capacity` refusals (keeping the lowest); a client
 * with a larger window than that may see reordering after an outage, never unbounded memory.
 */
export class RetryBarrier {
  /** Refused, not arrived again. */
  readonly #awaitingArrival: RefusedSet;
  /** Refused, not handled since. */
  readonly #awaitingHandling: RefusedSet;

  constructor(capacity: number) {
    this.#awaitingArrival = new RefusedSet(capacity);
    this.#awaitingHandling = new RefusedSet(capacity);
  }

  /** The refusal of message `seq` arriving now, if it must wait for an earlier refused one. */
  atArrival(seq: number): AssuredErrorData | undefined {
    if (this.#awaitingArrival.delete(seq)) return undefined;
    return this.#refuseAfter(this.#awaitingArrival, seq);
  }

  /** The refusal of message `seq` whose turn came, if it must wait for an earlier refused one. */
  atTurn(seq: number): AssuredErrorData | undefined {
    return this.#refuseAfter(this.#awaitingHandling, seq);
  }

  /** Records the outcome of message `seq`: a retryable error refuses it, anything else finishes it. */
  note(seq: number, error: AssuredErrorData | undefined): void {
    if (error !== undefined && RETRYABLE_CODES.includes(error.code)) {
      this.#refuse(seq, error.code);
      return;
    }
    this.#awaitingArrival.delete(seq);
    this.#awaitingHandling.delete(seq);
  }

  #refuseAfter(view: RefusedSet, seq: number): AssuredErrorData | undefined {
    const lowest = view.lowest;
    if (lowest === undefined || seq <= lowest) return undefined;
    const code = view.codeOf(lowest);
    this.#refuse(seq, code);
    return new AssuredError(
      code,
      `message seq ${seq} waits for the retry of message seq ${lowest} (send order, G10).`,
      { details: { waitingForSeq: lowest } },
    ).toJSON();
  }

  #refuse(seq: number, code: AssuredErrorCode): void {
    this.#awaitingArrival.add(seq, code);
    this.#awaitingHandling.add(seq, code);
  }
}

/** Refused seqs with their codes and the lowest of them, bounded by `capacity`. */
class RefusedSet {
  readonly #capacity: number;
  readonly #codes = new Map<number, AssuredErrorCode>();
  #lowest: number | undefined;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get lowest(): number | undefined {
    return this.#lowest;
  }

  codeOf(seq: number): AssuredErrorCode {
    return this.#codes.get(seq) ?? "LIMIT_EXCEEDED";
  }

  add(seq: number, code: AssuredErrorCode): void {
    if (!this.#codes.has(seq) && this.#codes.size >= this.#capacity) {
      if (this.#lowest === undefined || seq > this.#lowest) return;
      // Full (rare): keep the lowest refusals, forget the highest.
      this.#codes.delete(this.#extreme((a, b) => a > b)!);
    }
    this.#codes.set(seq, code);
    if (this.#lowest === undefined || seq < this.#lowest) this.#lowest = seq;
  }

  /** Forgets `seq`; true if it was there. */
  delete(seq: number): boolean {
    if (!this.#codes.delete(seq)) return false;
    // The lowest left (rare path, after an outage): one scan of at most `capacity` entries.
    if (seq === this.#lowest) this.#lowest = this.#extreme((a, b) => a < b);
    return true;
  }

  #extreme(better: (a: number, b: number) => boolean): number | undefined {
    let found: number | undefined;
    for (const seq of this.#codes.keys())
      if (found === undefined || better(seq, found)) found = seq;
    return found;
  }
}

/** The `seq` of a frame that could not be parsed, when it is readable. */
export function readableSeq(frame: unknown): number | undefined {
  const seq = (frame as { seq?: unknown } | null)?.seq;
  return typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0 ? seq : undefined;
}
