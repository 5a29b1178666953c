// Memory per retained event, measured in a child process started with --expose-gc (see
// retained-memory.ts): events published through a real Assured server into a store, the heap
// (and off-heap buffers) after a full collection before and after.
import { encode, MemoryDedupStore, MemoryEventStore } from "@assured/core";
import { newId } from "@assured/core/store";
import { createAssuredServer } from "@assured/server";
import { benchEvent } from "./bench-event.js";
import { serveParent } from "./child-rpc.js";
import { startServer } from "./loopback.js";

const EVENT = "event";
/** Publishes per awaited chunk (below the publisher's `maxPendingPublishes`). */
const PUBLISH_CHUNK = 1_000;

function usedBytes(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("the memory child needs --expose-gc");
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

serveParent({
  /** One round: bytes the memory store's process holds per retained event. */
  async memory(arg) {
    const { events } = arg as { events: number };
    const server = await startServer();
    const eventStore = new MemoryEventStore({ retention: { maxLength: events + 1 } });
    const assured = createAssuredServer(server.io, {
      store: eventStore,
      dedupStore: new MemoryDedupStore(),
    });
    const stream = `bench-memory-${newId()}`;
    try {
      await assured.publish(stream, EVENT, benchEvent(0)); // the stream and its caches exist
      const before = usedBytes();
      for (let seq = 1; seq <= events; seq += PUBLISH_CHUNK) {
        const chunk: Promise<unknown>[] = [];
        for (let i = seq; i < Math.min(events + 1, seq + PUBLISH_CHUNK); i++) {
          chunk.push(assured.publish(stream, EVENT, benchEvent(i)));
        }
        await Promise.all(chunk);
      }
      const after = usedBytes();
      const head = await eventStore.head(stream);
      const retained = Number(head.head) - Number(head.earliest) + 1;
      if (retained < events) throw new Error(`only ${retained} of ${events} events retained`);
      return {
        bytesPerEvent: (after - before) / events,
        payloadBytes: encode(benchEvent(0)).byteLength,
      };
    } finally {
      await assured.close();
      await server.close();
    }
  },
});
