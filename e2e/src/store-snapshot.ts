import type { EventRecord } from "@assured/core";
import type { EventStore, StreamHead } from "@assured/core/store";

/** Everything a store holds for some streams: head state and every retained record. */
export type StoreSnapshot = Record<string, { head: StreamHead; records: EventRecord[] }>;

/**
 * Reads the whole retained log of each stream, to compare a store before and after an
 * experiment ("nothing stored is lost or altered", G12).
 */
export async function snapshotStreams(
  store: EventStore,
  streams: readonly string[],
): Promise<StoreSnapshot> {
  const snapshot: StoreSnapshot = {};
  for (const stream of streams) {
    const records: EventRecord[] = [];
    for (;;) {
      const page = await store.read(stream, { after: records.at(-1)?.offset ?? 0, limit: 1_000 });
      if (page.records.length === 0) break;
      records.push(...page.records);
    }
    snapshot[stream] = { head: await store.head(stream), records };
  }
  return snapshot;
}
