import { encode, MemoryEventStore } from "@assured/core";
import { afterEach, describe, expect, it } from "vitest";
import { RecordingClient } from "../src/recording-client.js";
import { type RunningSocketServer, startSocketServer } from "../src/socket-server.js";

let server: RunningSocketServer | undefined;
let client: RecordingClient | undefined;

afterEach(async () => {
  await client?.close();
  await server?.close();
  client = undefined;
  server = undefined;
});

/** A handler that yields to the event loop twice per event: slower than the publisher. */
const slowHandler = async () => {
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** Counts the records that arrive on the wire for a stream, and the fetches the client sends. */
function wireCounters(c: RecordingClient, stream: string) {
  const counters = { received: 0, fetches: 0, maxAhead: 0 };
  c.socket.onAny((event: string, frame: { stream?: string; records?: { count: number } }) => {
    if (event !== "assured:batch" || frame.stream !== stream) return;
    counters.received += frame.records?.count ?? 0;
    counters.maxAhead = Math.max(counters.maxAhead, counters.received - c.offsets(stream).length);
  });
  c.socket.onAnyOutgoing((event: string) => {
    if (event === "assured:fetch") counters.fetches++;
  });
  return counters;
}

describe("slow consumers", () => {
  it("G2/G11: live events beyond a slow client's bounded buffer are dropped and fetched again: none lost, none twice", async () => {
    server = await startSocketServer();
    const c = new RecordingClient(server.url, {
      maxBufferedEvents: 200,
      fetchLimit: 100,
      // The default position check (15 s) is far beyond the wait below: dropped events must
      // be fetched again as the buffer drains, not when a periodic check notices them.
      positionCheckIntervalMs: 15_000,
      beforeRecord: slowHandler,
    });
    client = c;
    const wire = wireCounters(c, "live");
    c.client.subscribe("live");
    await c.client.connect();
    await c.changes.until(() => c.outcomes.length > 0);
    const running = server;
    for (let burst = 0; burst < 10; burst++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          running.assured.publish("live", "e", { n: burst * 100 + i + 1 }),
        ),
      );
    }
    await c.reached("live", 1_000, 10_000);
    expect(c.offsets("live")).toEqual(Array.from({ length: 1_000 }, (_, k) => k + 1));
    expect(c.data("live")).toEqual(Array.from({ length: 1_000 }, (_, k) => ({ n: k + 1 })));
    // The buffer overflowed and the gap was fetched (G7 repair of G11 drops).
    expect(wire.fetches).toBeGreaterThan(0);
    expect(c.errors).toEqual([]);
  });

  it("G11: a catch-up to a slow client is paced by its buffer: it fetches only when it has room, never more than the buffer ahead of the handler", async () => {
    const store = new MemoryEventStore();
    for (let i = 0; i < 5; i++) {
      await store.append(
        "history",
        Array.from({ length: 1_000 }, (_, k) => ({
          name: "e",
          payload: encode({ n: i * 1_000 + k + 1 }),
        })),
      );
    }
    server = await startSocketServer({ store, limits: { fetchLimit: 100 } });
    const c = new RecordingClient(server.url, {
      maxBufferedEvents: 400,
      beforeRecord: slowHandler,
    });
    client = c;
    // Protocol v2: the first page comes with the subscribe reply, the rest is pulled. Each
    // fetch asks for what fits the buffer: its end is never more than the buffer (and the
    // record being handled) ahead of what the handler finished.
    const pulled = { fetches: 0, maxAhead: 0 };
    c.socket.onAnyOutgoing((event: string, frame: { after?: number; limit?: number }) => {
      if (event !== "assured:fetch") return;
      pulled.fetches++;
      const end = (frame.after ?? 0) + (frame.limit ?? 0);
      pulled.maxAhead = Math.max(pulled.maxAhead, end - c.offsets("history").length);
    });
    c.client.subscribe("history", { from: "earliest" });
    await c.client.connect();
    await c.reached("history", 5_000, 30_000);
    expect(c.offsets("history")).toEqual(Array.from({ length: 5_000 }, (_, k) => k + 1));
    // One page of at most 100 records at a time: about 50 fetches, none wasted on drops.
    expect(pulled.fetches).toBeGreaterThanOrEqual(49);
    expect(pulled.fetches).toBeLessThan(60);
    expect(pulled.maxAhead).toBeLessThanOrEqual(400 + 1);
    expect(c.errors).toEqual([]);
  });
});
