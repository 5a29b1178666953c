import { AssuredError, encode, MemoryEventStore } from "@assured/core";
import { FRAMES } from "@assured/core/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { range, type TestClient, TestServer, testClient } from "./harness.js";

/*
 * Protocol v2, repair (DESIGN §8 "one repair loop, pulled by the client"): while a stream's
 * contiguous offset is below the highest head the client knows, it keeps one fetch
 * outstanding, retried with backoff for as long as it is subscribed. These runs use the
 * client's default options (position check every 15 s): only the repair loop converges in
 * the few seconds they allow.
 */

const S = "room:1";
let server: TestServer;
let c: TestClient | undefined;

afterEach(async () => {
  await c?.client.close();
  c = undefined;
  await server?.stop();
});

/** Appends `count` ticks `{ n }` straight to the store (no live emit): a backlog to catch up. */
async function seed(store: MemoryEventStore, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n += 1000) {
    const size = Math.min(1000, from + count - n);
    await store.append(
      S,
      Array.from({ length: size }, (_, i) => ({ name: "tick", payload: encode({ n: n + i }) })),
    );
  }
}

/** The adapter drops the live batches holding any of `offsets` (a node died, a packet got lost). */
function dropLiveBatches(offsets: readonly number[]): void {
  const adapter = server.io.of("/").adapter;
  const broadcast = adapter.broadcast.bind(adapter);
  adapter.broadcast = (packet, opts) => {
    const [event, frame] = packet.data as [string, { records?: { first: number; count: number } }];
    const { first = 0, count = 0 } = frame.records ?? {};
    if (event === FRAMES.batch && offsets.some((o) => o >= first && o < first + count)) return;
    broadcast(packet, opts);
  };
}

describe("pull repair: convergence in seconds (G2, G5, G7)", () => {
  it("G5/G7: a handler stalled during catch-up, with live traffic going on, converges within seconds of resuming", async () => {
    const store = new MemoryEventStore();
    server = await new TestServer(store).start();
    await seed(store, 1, 8_000);
    c = testClient(server.url);
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The first event's handler stalls for a while (a slow database, a paused tab).
    c.client.on<{ n: number }>("tick", (data) => (data.n === 1 ? stalled : undefined));
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    // Live traffic all along: one event every 10 ms.
    let n = 8_000;
    const live = setInterval(() => {
      n++;
      void server.assured.publish(S, "tick", { n }).catch(() => undefined);
    }, 2);
    try {
      await new Promise((resolve) => setTimeout(resolve, 3000));
      release();
      await new Promise((resolve) => setTimeout(resolve, 2000));
    } finally {
      clearInterval(live);
    }
    const total = n;
    const started = Date.now();
    const seen = await c.waiter.until(
      () => {
        const list = c?.seen.get(S) ?? [];
        return list.length >= total ? list : undefined;
      },
      `${total} ticks (got ${c?.seen.get(S)?.length}, missing ${range(1, total)
        .filter((k) => !c?.seen.get(S)?.includes(k))
        .slice(
          0,
          5,
        )}, first ${c?.seen.get(S)?.slice(0, 5)}, errors ${c?.errors.map((e) => e.message).slice(0, 3)}, outcomes ${JSON.stringify(c?.outcomes)})`,
      5_000,
    );
    expect(seen).toEqual(range(1, total));
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("G7: a hole inside a quiet stream whose fetch failed is fetched again within seconds", async () => {
    // The store fails the read of the hole once with a non-retryable code (a store bug, a
    // corrupt page that a failover repairs); nothing else is published afterwards.
    let failReads = 0;
    const store = new MemoryEventStore();
    // Both read paths fail: the server reads pages with `readPacked` where the store has it.
    const failing =
      <A extends unknown[], R>(original: (...args: A) => Promise<R>) =>
      (...args: A): Promise<R> => {
        if (failReads > 0) {
          failReads--;
          return Promise.reject(new AssuredError("STORE_CORRUPT", "injected read failure"));
        }
        return original(...args);
      };
    store.read = failing(store.read.bind(store));
    store.readPacked = failing(store.readPacked.bind(store));
    server = await new TestServer(store).start();
    c = testClient(server.url);
    c.client.subscribe(S, { from: "head" });
    await c.client.connect();
    await c.waiter.until(() => c?.outcomes.length === 1, "outcome");
    dropLiveBatches([4, 5, 6, 7]);
    failReads = 1;
    // 8 is the last event: its batch shows the hole 4–7, whose one fetch fails.
    await server.publishMany(S, 1, 8);
    const started = Date.now();
    expect(await c.waiter.until(() => (c?.seen.get(S)?.length ?? 0) >= 8, "8 ticks", 5_000)).toBe(
      true,
    );
    expect(c.seen.get(S)).toEqual(range(1, 8));
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("G7: a fetch that gets no reply is given up at its deadline (ackTimeoutMs) and asked again after a backoff", async () => {
    server = await new TestServer().start();
    // The server never sees the first fetch (a node died with it, a proxy lost it).
    let dropped = 0;
    let fetches = 0;
    server.io.on("connection", (socket) => {
      socket.use((packet, next) => {
        if (packet[0] !== FRAMES.fetch) return next();
        fetches++;
        if (dropped === 0) {
          dropped++;
          return; // no next(): no reply, ever
        }
        next();
      });
    });
    c = testClient(server.url, { ackTimeoutMs: 400 });
    c.client.subscribe(S, { from: "head" });
    await c.client.connect();
    await c.waiter.until(() => c?.outcomes.length === 1, "outcome");
    dropLiveBatches([2, 3]);
    await server.publishMany(S, 1, 4);
    const started = Date.now();
    expect(await c.waiter.until(() => (c?.seen.get(S)?.length ?? 0) >= 4, "4 ticks", 5_000)).toBe(
      true,
    );
    expect(c.seen.get(S)).toEqual(range(1, 4));
    expect(dropped).toBe(1);
    expect(fetches).toBe(2);
    // The deadline (0.4 s) plus the first backoff (at most 0.5 s), not the position check (15 s).
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
