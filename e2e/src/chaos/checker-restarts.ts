/**
 * The store's history across restarts (`ChaosRecord.restarts`): what a volatile or snapshot
 * restart really lost, so `epoch` and `diverged` outcomes, deliveries of a lost history and
 * messages run twice can be judged against it.
 */
import type { StoreHistory } from "./checker-context.js";
import { deepEqual } from "./checker-equal.js";
import type { ChaosStoreLog, ChaosStoreRestart } from "./checker-types.js";

/** True for the modes that lose data: `volatile` and `snapshot`. */
export const lossy = (r: ChaosStoreRestart): boolean => r.mode !== "persistent";

/** The records the captured logs held at (stream, epoch, offset), before or after any restart. */
export function capturedVersions(
  restarts: readonly ChaosStoreRestart[],
  stream: string,
  epoch: string,
  offset: number,
): unknown[] {
  const versions: unknown[] = [];
  for (const r of restarts) {
    for (const logs of [r.before, r.after]) {
      const log = logs?.get(stream);
      if (log && log.epoch === epoch && log.events.has(offset))
        versions.push(log.events.get(offset));
    }
  }
  return versions;
}

/**
 * The first lossy restart, at or before `t`, that lost the stream's `epoch`: the store held the
 * epoch before it (in the capture, or a line showed it before the store answered again: nothing
 * is appended while it is down) and not after it.
 */
export function epochLostBy(
  restarts: readonly ChaosStoreRestart[],
  history: StoreHistory,
  stream: string,
  epoch: string,
  t: number,
): ChaosStoreRestart | undefined {
  const seen = history.firstSeen(stream, epoch);
  return restarts.find((r) => {
    if (!lossy(r) || r.t > t) return false;
    const held = r.before?.get(stream)?.epoch === epoch || (seen !== undefined && seen < r.upT);
    return held && r.after?.get(stream)?.epoch !== epoch;
  });
}

/**
 * The first snapshot restart, at or before `t`, after which the store no longer held the
 * client's last event `last` of `epoch` (its record was gone or replaced): the event existed
 * before the kill (in the capture, or acknowledged to the publisher before the store answered
 * again: an append acknowledged between the capture and the kill completing is in the old
 * history, and nothing is appended while the store is down).
 */
export function divergedBy(
  restarts: readonly ChaosStoreRestart[],
  history: StoreHistory,
  stream: string,
  epoch: string,
  last: { offset: number; data: unknown } | null,
  t: number,
): ChaosStoreRestart | undefined {
  return restarts.find((r) => {
    if (r.mode !== "snapshot" || r.t > t) return false;
    if (last === null) return true;
    const before = r.before?.get(stream);
    const k = (last.data as { k?: unknown } | null)?.k;
    const at =
      typeof k === "number" ? history.publishedAt(stream, epoch, last.offset, k) : undefined;
    const existed = holds(before, epoch, last) || (at !== undefined && at < r.upT);
    return existed && !holds(r.after?.get(stream), epoch, last);
  });
}

function holds(
  log: ChaosStoreLog | undefined,
  epoch: string,
  event: { offset: number; data: unknown },
): boolean {
  return (
    log !== undefined &&
    log.epoch === epoch &&
    log.events.has(event.offset) &&
    deepEqual(log.events.get(event.offset), event.data)
  );
}
