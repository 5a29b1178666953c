import type { EventRecord, Position, RecoveryReason } from "@assured/core";
import { judgeResume, type StartFrom } from "@assured/core/protocol";
import type { StreamHead } from "@assured/core/store";

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
 * fully recovered starts at the head with a reason. `recordAtOffset` is what the store holds at
 * the position's offset (read when `resumeCheckOffset` names it): a record with another id than
 * the position's, or a head below the position in its epoch, is `diverged` (`judgeResume`), and
 * continues like `epoch`: from the head. `knowsDiverged`: the client announced the feature
 * (handshake `features`); otherwise a position without an id beyond the head gets `epoch`, the
 * reason older clients know.
 */
export function decideOutcome(
  position: Position | null,
  from: StartFrom,
  log: StreamHead,
  replayLimit: number,
  recordAtOffset?: EventRecord,
  knowsDiverged = true,
): SubscribeOutcome {
  const { head, earliest } = log;
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
  const verdict = judgeResume(position, log, recordAtOffset);
  if (verdict === "epoch") return notRecovered("epoch");
  // An older client (no `features`, no ids) knows no "diverged": its offset beyond the head is
  // answered "epoch", as before. A position with an id comes from a client that knows it.
  if (verdict === "diverged") {
    return notRecovered(knowsDiverged || position.id !== undefined ? "diverged" : "epoch");
  }
  if (offset < earliest - 1) return notRecovered("trimmed");
  if (head - offset > replayLimit) return notRecovered("limit");
  return { recovered: true, start: offset };
}
