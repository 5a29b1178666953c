import { AssuredError } from "@assured/core";
import type { MessageFrame } from "@assured/core/protocol";

/**
 * Messages expire, never re-run (G9 with a window, DESIGN.md §8). The dedup store remembers a
 * handled message's answer for `dedupTtlMs`; a copy of it arriving later would find nothing and
 * run again. So a message carries its age (`age`: ms since the client created it, measured on
 * the client's clock), and at its turn the server refuses one that may be older than the
 * window with the final `EXPIRED` instead of running it.
 *
 * The age at its turn is the client's `age` plus the time it waited in the socket's queue
 * (server clock). It is compared with the window less a margin, `min(60 s, dedupTtlMs / 10)`,
 * which covers what the age cannot see: the frame's time in transit (and in the client's send
 * buffer after `age` was measured) and a client clock running slow against the server's. A
 * message may also carry its sender's own limit, `ttl`, with the same effect.
 *
 * The caller still looks the key up first: a copy of a message that did run, still within the
 * store's window, gets its real answer.
 */

/** The safety margin subtracted from `dedupTtlMs`: `min(60 s, dedupTtlMs / 10)`, in ms. */
export function expiryMarginMs(dedupTtlMs: number): number {
  return Math.min(60_000, Math.floor(dedupTtlMs / 10));
}

/** The oldest age a message may have at its turn and still run, in ms (exclusive). */
export function expiryWindowMs(dedupTtlMs: number): number {
  return dedupTtlMs - expiryMarginMs(dedupTtlMs);
}

/**
 * The `EXPIRED` error of a message at its turn, or undefined when it may run. `waitedMs` is the
 * time since it arrived (server clock). A message without `age` (older clients) never expires.
 */
export function expiredError(
  message: Pick<MessageFrame, "id" | "age" | "ttl">,
  waitedMs: number,
  dedupTtlMs: number,
): AssuredError | undefined {
  if (message.age === undefined) return undefined;
  const age = Math.min(message.age + Math.max(0, Math.floor(waitedMs)), Number.MAX_SAFE_INTEGER);
  const windowMs = expiryWindowMs(dedupTtlMs);
  if (age >= windowMs) {
    return new AssuredError(
      "EXPIRED",
      `message ${message.id} is ${age} ms old, older than the server's dedup window ` +
        `(${windowMs} ms with its safety margin): the server may have forgotten a copy of it ` +
        "that ran, so running it could run it twice. It was not run; send it as a new message " +
        "if it is still wanted.",
      { details: { age, windowMs } },
    );
  }
  if (message.ttl !== undefined && age >= message.ttl) {
    return new AssuredError(
      "EXPIRED",
      `message ${message.id} is ${age} ms old, older than its own ttl (${message.ttl} ms). ` +
        "It was not run; send it as a new message if it is still wanted.",
      { details: { age, windowMs: message.ttl, ttl: message.ttl } },
    );
  }
  return undefined;
}
