import type { ClientStatus } from "./client-worker-protocol.js";
import type { StoredLog } from "./topology.js";

/**
 * True when a client has settled: every message it was to send is answered, and on every
 * stream it stands where the store's log ends — in the log's epoch, at its head, on the event
 * the store holds there (the id of its last delivery, when a delivery set the position). A
 * count of offsets alone is not enough: after a store restored from an older snapshot, a
 * client still on the lost events stands at or past the new head without having seen it.
 */
export function clientSettled(
  client: ClientStatus,
  messagesPerClient: number,
  logs: ReadonlyMap<string, StoredLog>,
): boolean {
  if (client.pending !== 0 || client.emitted !== messagesPerClient) return false;
  for (const [stream, log] of logs) {
    // An empty log (a store restarted empty, nothing appended since) has nothing to deliver.
    if (log.head === 0) continue;
    const seen = client.positions[stream];
    if (seen === undefined || seen.epoch !== log.epoch || seen.offset !== log.head) return false;
    if (seen.id !== undefined && log.headId !== undefined && seen.id !== log.headId) return false;
  }
  return true;
}
