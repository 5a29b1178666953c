import type { StreamHead } from "./event-store.js";
import type { EventRecord, Offset, Position } from "./types.js";

/**
 * What a stored position says about the log it resumes (DESIGN §8, "Positions detect
 * divergence" — Kafka's truncation check, per stream):
 * - `consistent`: the log still holds the position's history, as far as can be checked;
 * - `epoch`: the log was reset or lost (another epoch), and the position is past offset 0;
 * - `diverged`: same epoch, but the log was rewritten under the position (a store restored from
 *   an older snapshot, a failover that lost writes): the head is below the position's offset,
 *   or the event at that offset has another id;
 * - `unchecked`: the position carries no id (an older client, or one taken from a subscription
 *   outcome before any event was processed), or the event at its offset is no longer retained
 *   (trimmed): nothing to compare, the position is taken as it is.
 */
export type ResumeVerdict = "consistent" | "epoch" | "diverged" | "unchecked";

/**
 * The offset whose record `judgeResume` needs to judge `position` against `log`, or undefined
 * when it decides without one (offset 0, another epoch, beyond the head, no id, not retained).
 * The server reads that one record (`read(stream, { after: offset - 1, limit: 1 })`).
 */
export function resumeCheckOffset(position: Position, log: StreamHead): Offset | undefined {
  const { offset } = position;
  if (position.id === undefined || offset === 0 || position.epoch !== log.epoch) return undefined;
  if (offset > log.head || offset < log.earliest) return undefined;
  return offset;
}

/**
 * Judges a resume: does the log (`log`, its head; `recordAtOffset`, what the store holds at the
 * position's offset, if it was read) still hold the history the position was taken from? Pure.
 * A record of another offset (the one at the position's offset was trimmed) counts as absent.
 *
 * @example judgeResume({ epoch: "e", offset: 5, id: "a" }, head, record) // → "diverged" if record.id !== "a"
 */
export function judgeResume(
  position: Position,
  log: StreamHead,
  recordAtOffset: EventRecord | undefined,
): ResumeVerdict {
  const { offset } = position;
  if (offset === 0) return "consistent";
  if (position.epoch !== log.epoch) return "epoch";
  if (offset > log.head) return "diverged";
  if (position.id === undefined) return "unchecked";
  if (recordAtOffset === undefined || recordAtOffset.offset !== offset) return "unchecked";
  return recordAtOffset.id === position.id ? "consistent" : "diverged";
}
