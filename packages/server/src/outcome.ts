import type { Position, RecoveryReason, StartFrom, StreamHead } from "@assured/core";

/** Where a (re)subscription starts and whether it recovers every missed event (G6). */
export interface SubscribeOutcome {
  recovered: boolean;
  reason?: RecoveryReason;
  /** Events after this offset are replayed, then live events follow. */
  start: number;
}

/**
 * Decides a subscription's outcome from the client's position and the stream's head, per the
 * outcome table of docs/protocol.md. Never a silent partial replay: a position that cannot be
 * fully recovered starts at the head with a reason.
 */
export function decideOutcome(
  position: Position | null,
  from: StartFrom,
  log: StreamHead,
  replayLimit: number,
): SubscribeOutcome {
  const { epoch, head, earliest } = log;
  const notRecovered = (reason: RecoveryReason): SubscribeOutcome => ({
    recovered: false,
    reason,
    start: head,
  });
  if (position === null) {
    if (from === "head") return { recovered: true, start: head };
    return head - (earliest - 1) <= replayLimit
      ? { recovered: true, start: earliest - 1 }
      : notRecovered("limit");
  }
  const { offset } = position;
  if (offset === 0 && earliest === 1 && head <= replayLimit) return { recovered: true, start: 0 };
  if ((position.epoch !== epoch && offset > 0) || offset > head) return notRecovered("epoch");
  if (offset < earliest - 1) return notRecovered("trimmed");
  if (head - offset > replayLimit) return notRecovered("limit");
  return { recovered: true, start: offset };
}
