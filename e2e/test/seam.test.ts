import type { ServerOptions } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import { Changes } from "../src/changes.js";
import { startChurn } from "../src/connection-churn.js";
import { RecordingClient } from "../src/recording-client.js";
import { type RunningSocketServer, startSocketServer } from "../src/socket-server.js";

const STREAMS = ["seam:a", "seam:b"] as const;

let server: RunningSocketServer | undefined;
const clients: RecordingClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
  server = undefined;
});

/**
 * Publishes to two streams for `durationMs` while `clientCount` clients drop their connection
 * every 200–400 ms, then checks that every client's handlers saw exactly offsets 1..head of
 * each stream, in order, with the published data.
 */
async function churnWhilePublishing(options: {
  clientCount: number;
  durationMs: number;
  serverOptions?: Partial<ServerOptions>;
}): Promise<{ heads: number[]; drops: number; recoveredByServer: number }> {
  const { clientCount, durationMs } = options;
  server = await startSocketServer(
    options.serverOptions === undefined ? {} : { serverOptions: options.serverOptions },
  );
  let recoveredByServer = 0;
  server.io.on("connection", (socket) => {
    if (socket.recovered) recoveredByServer++;
  });
  const changes = new Changes();
  const published = new Map<string, unknown[]>(STREAMS.map((s) => [s, []]));
  // A client that is never disconnected paces the publisher: the next burst waits until it
  // has seen the previous one, so publishing keeps up with delivery on a small machine.
  const pacer = new RecordingClient(server.url, { changes });
  clients.push(pacer);
  for (let i = 0; i < clientCount; i++) {
    // A few clients start on long polling and upgrade, the rest use WebSocket only.
    const socket = i % 5 === 0 ? { transports: ["polling", "websocket"] } : {};
    clients.push(new RecordingClient(server.url, { changes, socket }));
  }
  for (const c of clients) for (const stream of STREAMS) c.client.subscribe(stream);
  await Promise.all(clients.map((c) => c.client.connect()));
  await changes.until(() => clients.every((c) => c.outcomes.length >= STREAMS.length), {
    what: "every client subscribed",
  });

  const churned = clients.slice(1);
  const churn = startChurn(
    churned.map((c) => c.socket),
    { minMs: 200, maxMs: 400, maxDurationMs: durationMs },
  );
  const started = Date.now();
  let n = 0;
  while (Date.now() - started < durationMs) {
    const burst: Promise<unknown>[] = [];
    for (let i = 0; i < 5; i++) {
      const stream = STREAMS[i % 2]!;
      const data = { n: ++n };
      published.get(stream)!.push(data);
      burst.push(server.assured.publish(stream, "e", data));
    }
    await Promise.all(burst);
    await Promise.all(STREAMS.map((s) => pacer.reached(s, published.get(s)!.length)));
  }
  churn.stop();

  const heads = STREAMS.map((s) => published.get(s)!.length);
  await changes.until(
    () => churned.every((c) => STREAMS.every((s, i) => c.offsets(s).length >= heads[i]!)),
    {
      timeoutMs: 15_000,
      what: () =>
        `every client at the heads ${heads}; delivered: ${churned
          .map((c) => STREAMS.map((s) => c.offsets(s).length).join("/"))
          .join(", ")}`,
    },
  );

  for (const [index, c] of clients.entries()) {
    for (const [i, stream] of STREAMS.entries()) {
      const expected = Array.from({ length: heads[i]! }, (_, k) => k + 1);
      // Exactly 1..head in order: nothing lost, nothing twice, nothing out of order.
      expect(c.offsets(stream), `client ${index} on ${stream}`).toEqual(expected);
      expect(c.data(stream), `client ${index} data on ${stream}`).toEqual(published.get(stream));
    }
    expect(
      c.outcomes.every((o) => o.recovered),
      `client ${index} outcomes`,
    ).toBe(true);
    expect(c.errors, `client ${index} errors`).toEqual([]);
  }
  return { heads, drops: churn.drops, recoveredByServer };
}

describe("seam under reconnect churn", () => {
  it("G1/G2/G3/G5: 20 clients reconnecting every 200–400 ms while events are published: none lost, duplicated or out of order", {
    timeout: 40_000,
  }, async () => {
    const { heads, drops } = await churnWhilePublishing({ clientCount: 20, durationMs: 10_000 });
    expect(drops).toBeGreaterThan(20 * 10);
    expect(heads.every((h) => h > 100)).toBe(true);
    console.log(`seam: ${heads.join("+")} events, ${drops} connection drops over 20 clients`);
  });

  it("G1/G3/G5: with Socket.IO's connection state recovery on, its replayed packets and Assured's replay together still deliver each event once, in order", {
    timeout: 30_000,
  }, async () => {
    const { heads, drops, recoveredByServer } = await churnWhilePublishing({
      clientCount: 8,
      durationMs: 4_000,
      serverOptions: { connectionStateRecovery: { maxDisconnectionDuration: 60_000 } },
    });
    expect(drops).toBeGreaterThan(8 * 4);
    // Transport drops were restored by Socket.IO (rooms and missed packets included).
    expect(recoveredByServer).toBeGreaterThan(0);
    expect(heads.every((h) => h > 20)).toBe(true);
    console.log(
      `seam with connection state recovery: ${heads.join("+")} events, ${drops} drops, ${recoveredByServer} restored sessions`,
    );
  });

  it("G5: server-initiated subscriptions recover from the position the client's handshake carries, under churn", {
    timeout: 30_000,
  }, async () => {
    server = await startSocketServer();
    const running = server;
    // The server subscribes every socket to its user's inbox; the client never asks.
    running.io.on("connection", (socket) => {
      const user = (socket.handshake.auth as { user?: string }).user;
      if (user !== undefined)
        void running.assured.subscribe(socket, `inbox:${user}`, { from: "earliest" });
    });
    const changes = new Changes();
    const users = ["ann", "bob", "cid", "dee", "eve"];
    for (const user of users) {
      clients.push(new RecordingClient(running.url, { changes, socket: { auth: { user } } }));
    }
    await Promise.all(clients.map((c) => c.client.connect()));
    await changes.until(() => clients.every((c) => c.outcomes.length > 0), {
      what: "every inbox subscribed by the server",
    });
    const churn = startChurn(
      clients.map((c) => c.socket),
      { minMs: 200, maxMs: 400, maxDurationMs: 3_000 },
    );
    const started = Date.now();
    let count = 0;
    while (Date.now() - started < 3_000) {
      count++;
      await Promise.all(
        users.map((user) => running.assured.publish(`inbox:${user}`, "e", { count })),
      );
      // Let deliveries interleave with publishing.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    churn.stop();
    await changes.until(
      () => clients.every((c, i) => c.offsets(`inbox:${users[i]}`).length >= count),
      { timeoutMs: 15_000, what: `every inbox at ${count}` },
    );
    for (const [i, c] of clients.entries()) {
      const inbox = `inbox:${users[i]}`;
      expect(c.offsets(inbox)).toEqual(Array.from({ length: count }, (_, k) => k + 1));
      expect([...c.deliveries.keys()]).toEqual([inbox]);
      expect(c.outcomes.every((o) => o.recovered && o.stream === inbox)).toBe(true);
      // Every reconnect (after the first connection) was a recovery from a saved position.
      expect(c.outcomes.length).toBe(c.connects);
    }
    expect(churn.drops).toBeGreaterThan(users.length * 3);
  });
});
