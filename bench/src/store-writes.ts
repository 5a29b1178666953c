// Store appends against the bare driver: events per second written by `eventStore.append` and
// by the same database's driver without Assured (raw-writers.ts), one group at a time.
import { encode } from "@assured/core";
import { benchEvent } from "./bench-event.js";
import { reasonOf } from "./reason.js";
import { median } from "./stats.js";
import type { BenchStores } from "./stores.js";

/** One store at one group size: Assured's append rate and the bare driver's. */
export interface StoreWriteResult {
  store: string;
  groupSize: number;
  events: number;
  assuredPerSecond: number | null;
  rawPerSecond: number | null;
  error?: string;
}

/**
 * Writes `groups` groups of `groupSize` events, each awaited before the next, first through a
 * warm-up of a tenth, then measured — alternately Assured and raw, `rounds` times; the median
 * round of each is reported.
 */
export async function measureStoreWrites(
  stores: BenchStores,
  plan: { groupSize: number; groups: number; rounds: number },
): Promise<StoreWriteResult> {
  const { groupSize, groups, rounds } = plan;
  const result: StoreWriteResult = {
    store: stores.kind,
    groupSize,
    events: groupSize * groups,
    assuredPerSecond: null,
    rawPerSecond: null,
  };
  const raw = stores.raw;
  if (!raw) return result;
  const payloads = Array.from({ length: groupSize }, (_, i) => encode(benchEvent(i)));
  const entries = payloads.map((payload) => ({ name: "event", payload }));
  const time = async (count: number, write: (stream: string) => Promise<unknown>) => {
    const stream = `bench-writes-${groupSize}-${Math.random().toString(36).slice(2)}`;
    const start = performance.now();
    for (let g = 0; g < count; g++) await write(stream);
    return (count * groupSize * 1000) / (performance.now() - start);
  };
  const assured = (stream: string) => stores.eventStore.append(stream, entries);
  const bare = (stream: string) => raw(stream, payloads);
  try {
    const warmUp = Math.max(1, Math.floor(groups / 10));
    await time(warmUp, assured);
    await time(warmUp, bare);
    const assuredRates: number[] = [];
    const rawRates: number[] = [];
    for (let r = 0; r < rounds; r++) {
      assuredRates.push(await time(groups, assured));
      rawRates.push(await time(groups, bare));
    }
    result.assuredPerSecond = median(assuredRates);
    result.rawPerSecond = median(rawRates);
  } catch (error) {
    result.error = reasonOf(error);
  }
  return result;
}
