// Memory per retained event: how many bytes the server process holds for each event a store
// keeps, where that can be measured in-process (the memory store). The rounds run in a child
// started with --expose-gc, so the bench's own heap does not count.
import { forkChild } from "./child-rpc.js";
import { median } from "./stats.js";

/** One store's bytes per retained event, or why it could not be measured. */
export type RetainedMemoryResult =
  | {
      store: string;
      events: number;
      /** Every round's bytes per event; the median is `bytesPerEvent`. */
      rounds: number[];
      bytesPerEvent: number;
      /** The encoded payload of one bench event, for comparison. */
      payloadBytes: number;
    }
  | { store: string; events: number; error: string };

/** Measures the memory store: `rounds` rounds of `events` events, each in a fresh server. */
export async function measureRetainedMemory(
  events: number,
  rounds: number,
  log: (line: string) => void,
): Promise<RetainedMemoryResult> {
  let child: Awaited<ReturnType<typeof forkChild>> | undefined;
  try {
    child = await forkChild(new URL("./retained-memory-child.ts", import.meta.url), [
      "--expose-gc",
    ]);
    const values: number[] = [];
    let payloadBytes = 0;
    for (let round = 0; round < rounds; round++) {
      const r = await child.call<{ bytesPerEvent: number; payloadBytes: number }>("memory", {
        events,
      });
      values.push(r.bytesPerEvent);
      payloadBytes = r.payloadBytes;
      log(`  memory store, round ${round + 1}: ${Math.round(r.bytesPerEvent)} B per event`);
    }
    return { store: "memory", events, rounds: values, bytesPerEvent: median(values), payloadBytes };
  } catch (error) {
    return {
      store: "memory",
      events,
      error: error instanceof Error ? error.message : String(error),
    };
  } finally {
    await child?.stop();
  }
}
