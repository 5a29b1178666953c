import type { EventRecord } from "@assured/core";
import type { AppendEntry, EventStore } from "@assured/core/store";

/** One entry with a one-byte payload, optionally with an id. */
export function entry(id?: string, payload: Uint8Array = new Uint8Array([1])): AppendEntry {
  return id === undefined ? { name: "event", payload } : { id, name: "event", payload };
}

/** `count` entries with ids `${prefix}-0`, `${prefix}-1`… and payloads holding their index. */
export function entries(count: number, prefix = "e"): AppendEntry[] {
  return Array.from({ length: count }, (_, i) =>
    entry(`${prefix}-${i}`, new Uint8Array([i & 0xff, i >> 8])),
  );
}

/** Reads every retained record of a stream, 1,000 a page. */
export async function readAll(store: EventStore, stream: string): Promise<EventRecord[]> {
  const all: EventRecord[] = [];
  let after = 0;
  for (;;) {
    const page = await store.read(stream, { after, limit: 1_000 });
    all.push(...page.records);
    const last = page.records.at(-1);
    if (last === undefined || last.offset >= page.head) return all;
    after = last.offset;
  }
}
