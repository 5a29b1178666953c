import { createMemoryBackend, type MemoryBackend, MemoryEventStore } from "@assured/core";
import { memoryStorage } from "@assured/core/protocol";
import { MemoryStreamLog } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { closeAfterEach, TestServer, testClient } from "./harness.js";

/*
 * Positions detect divergence (DESIGN §8), client side: the stored position carries the id of
 * its event; a resume over a log rewritten under it (a store restored from an older snapshot)
 * reports `diverged` instead of silently skipping the rewritten events, and the position moves
 * to the head even when that is below the stored offset.
 */

const S = "room:1";
let server: TestServer | undefined;
const track = closeAfterEach(() => server);

/** Restores the stream's log to its first `keep` events: a store restored from an older snapshot. */
function rollBack(backend: MemoryBackend, stream: string, keep: number): void {
  const log = backend.streams.get(stream);
  if (log === undefined) throw new Error(`no log for ${stream}`);
  const older = new MemoryStreamLog();
  older.restart(log.epoch);
  for (let offset = 1; offset <= keep; offset++) older.push({ ...log.at(offset)! });
  backend.streams.set(stream, older);
}

async function storedPosition(storage: ReturnType<typeof memoryStorage>) {
  return JSON.parse((await storage.get(`assured:pos:${S}`)) ?? "null");
}

async function setUp() {
  const backend = createMemoryBackend();
  const store = new MemoryEventStore({ backend });
  server = await new TestServer(store).start();
  const storage = memoryStorage();
  const first = track(testClient(server.url, { storage }));
  first.client.subscribe(S, { from: "earliest" });
  await first.client.connect();
  await server.publishMany(S, 1, 5);
  await first.ticks(S, 5);
  await first.client.close();
  const [fifth] = (await store.read(S, { after: 4, limit: 1 })).records;
  return { backend, store, storage, fifthId: fifth!.id, epoch: (await store.head(S)).epoch };
}

describe("positions detect divergence (client)", () => {
  it("the stored position holds the id of its event, and a resume over rewritten offsets is diverged, not a silent skip", async () => {
    const { backend, storage, fifthId, epoch } = await setUp();
    expect(await storedPosition(storage)).toEqual({ epoch, offset: 5, id: fifthId });
    rollBack(backend, S, 3);
    // New events reuse offsets 4, 5, 6 of the same epoch.
    await server!.publishMany(S, 100, 3);
    const again = track(testClient(server!.url, { storage }));
    again.client.subscribe(S);
    await again.client.connect();
    await again.waiter.until(() => again.outcomes.length === 1, "outcome");
    expect(again.outcomes).toEqual([{ stream: S, recovered: false, reason: "diverged" }]);
    await server!.publishMany(S, 103, 1);
    expect(await again.ticks(S, 1)).toEqual([103]);
    // The application resyncs: the rewritten history, in full.
    again.client.resubscribe(S, { from: "earliest" });
    expect(await again.ticks(S, 8)).toEqual([103, 1, 2, 3, 100, 101, 102, 103]);
  });

  it("a diverged outcome moves the stored position back within the epoch; the next resume recovers", async () => {
    const { backend, store, storage, epoch } = await setUp();
    rollBack(backend, S, 3);
    await server!.publishMany(S, 100, 1); // offset 4: the head is below the stored offset 5
    const again = track(testClient(server!.url, { storage }));
    again.client.subscribe(S);
    await again.client.connect();
    await again.waiter.until(() => again.outcomes.length === 1, "outcome");
    expect(again.outcomes).toEqual([{ stream: S, recovered: false, reason: "diverged" }]);
    // Offset 5 again, now another event: the stored (epoch, 5, old id) must give way to it.
    await server!.publishMany(S, 101, 1);
    expect(await again.ticks(S, 1)).toEqual([101]);
    await again.client.close();
    const [fifth] = (await store.read(S, { after: 4, limit: 1 })).records;
    expect(await storedPosition(storage)).toEqual({ epoch, offset: 5, id: fifth!.id });

    const third = track(testClient(server!.url, { storage }));
    third.client.subscribe(S);
    await third.client.connect();
    await third.waiter.until(() => third.outcomes.length === 1, "outcome");
    expect(third.outcomes).toEqual([{ stream: S, recovered: true }]);
    await server!.publishMany(S, 103, 1);
    expect(await third.ticks(S, 1)).toEqual([103]);
  });

  it("a position taken from the head before any event was processed carries the head's id: a rollback is caught", async () => {
    const { backend, fifthId, epoch } = await setUp();
    const idle = memoryStorage();
    const fresh = track(testClient(server!.url, { storage: idle }));
    fresh.client.subscribe(S); // from the head (offset 5), nothing to process
    await fresh.client.connect();
    await fresh.waiter.until(() => fresh.outcomes.length === 1, "outcome");
    await fresh.client.close();
    expect(await storedPosition(idle)).toEqual({ epoch, offset: 5, id: fifthId });
    rollBack(backend, S, 3);
    await server!.publishMany(S, 100, 3); // offsets 4, 5, 6
    const again = track(testClient(server!.url, { storage: idle }));
    again.client.subscribe(S);
    await again.client.connect();
    await again.waiter.until(() => again.outcomes.length === 1, "outcome");
    expect(again.outcomes).toEqual([{ stream: S, recovered: false, reason: "diverged" }]);
  });

  it("a position without an id (stored by an older client) beyond the head of its epoch is diverged and moves back", async () => {
    const { backend, storage, epoch } = await setUp();
    await storage.set(`assured:pos:${S}`, JSON.stringify({ epoch, offset: 5 }));
    rollBack(backend, S, 3);
    const again = track(testClient(server!.url, { storage }));
    again.client.subscribe(S);
    await again.client.connect();
    await again.waiter.until(() => again.outcomes.length === 1, "outcome");
    expect(again.outcomes).toEqual([{ stream: S, recovered: false, reason: "diverged" }]);
    await server!.publishMany(S, 100, 1); // offset 4: delivered, not taken for a duplicate
    expect(await again.ticks(S, 1)).toEqual([100]);
    await again.client.close();
    expect(await storedPosition(storage)).toMatchObject({ epoch, offset: 4 });
  });

  it("live: a connected client sees the rewritten record at its offset and gets diverged without reconnecting", async () => {
    const backend = createMemoryBackend();
    server = await new TestServer(new MemoryEventStore({ backend })).start();
    const c = track(testClient(server.url, { positionCheckIntervalMs: 60_000 }));
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    await server.publishMany(S, 1, 5);
    await c.ticks(S, 5);
    rollBack(backend, S, 3);
    await server.publishMany(S, 100, 3); // offsets 4, 5 (the client's, another id), 6
    await c.waiter.until(() => c.outcomes.length === 2, "outcome");
    expect(c.outcomes[1]).toEqual({ stream: S, recovered: false, reason: "diverged" });
    await server.publishMany(S, 103, 1);
    const seen = await c.waiter.until(() => {
      const ticks = c.seen.get(S) ?? [];
      return ticks[ticks.length - 1] === 103 && ticks;
    }, "tick 103");
    // The rewritten 100 and 101 (offsets 4, 5) never arrive; 102 (offset 6) does when its
    // publish reached the log after the server judged the resubscription (publish timing).
    expect([
      [1, 2, 3, 4, 5, 103],
      [1, 2, 3, 4, 5, 102, 103],
    ]).toContainEqual(seen);
  });

  it("live: the position check finds a head below what the client received and gets diverged", async () => {
    const backend = createMemoryBackend();
    server = await new TestServer(new MemoryEventStore({ backend })).start();
    const c = track(testClient(server.url, { positionCheckIntervalMs: 50 }));
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    await server.publishMany(S, 1, 5);
    await c.ticks(S, 5);
    rollBack(backend, S, 3); // the head (3) is below the client's offset (5)
    await c.waiter.until(() => c.outcomes.length === 2, "outcome");
    expect(c.outcomes[1]).toEqual({ stream: S, recovered: false, reason: "diverged" });
    expect(c.client.position(S)).toMatchObject({ offset: 3 });
    await server.publishMany(S, 100, 1);
    expect(await c.ticks(S, 6)).toEqual([1, 2, 3, 4, 5, 100]);
  });

  it("a position stored by an older client (no id) still resumes", async () => {
    const { storage, epoch } = await setUp();
    await storage.set(`assured:pos:${S}`, JSON.stringify({ epoch, offset: 3 }));
    const again = track(testClient(server!.url, { storage }));
    again.client.subscribe(S);
    await again.client.connect();
    expect(await again.ticks(S, 2)).toEqual([4, 5]);
    expect(again.outcomes).toEqual([{ stream: S, recovered: true }]);
  });
});
