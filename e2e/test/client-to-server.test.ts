import { afterAll, describe, expect, it } from "vitest";
import { Changes } from "../src/changes.js";
import { startChurn } from "../src/connection-churn.js";
import { deferred } from "../src/deferred.js";
import { messagesIn } from "../src/message-frames.js";
import { RecordingClient } from "../src/recording-client.js";
import { type RunningSocketServer, startSocketServer } from "../src/socket-server.js";

const CLIENTS = 10;
const PER_CLIENT = 1_000;

let server: RunningSocketServer | undefined;

/** Appends to the list of `key` in a map of lists. */
function append(map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
const clients: RecordingClient[] = [];

const servers: RunningSocketServer[] = [];

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.close();
  for (const other of servers) await other.close();
});

describe("client → server under reconnect churn", () => {
  it("G8/G9/G10: 10,000 messages from 10 clients under random disconnects: each handled once, in send order, every promise resolved with its result", {
    timeout: 60_000,
  }, async () => {
    const invocations = new Map<string, number>();
    const seqs = new Map<string, number[]>();
    const order = new Map<string, number[]>();
    server = await startSocketServer();
    // Every message frame that reaches the server, resends included.
    let frames = 0;
    server.io.on("connection", (socket) =>
      socket.onAny((event: string, frame: unknown) => {
        frames += messagesIn(event, frame);
      }),
    );
    server.assured.on("work", async (data: { client: number; n: number }, ctx) => {
      const key = `${ctx.principal} ${ctx.id}`;
      invocations.set(key, (invocations.get(key) ?? 0) + 1);
      append(seqs, ctx.principal, ctx.seq);
      append(order, ctx.principal, data.n);
      // Let other sockets and frames interleave with the handler.
      await new Promise<void>((resolve) => setImmediate(resolve));
      return { client: data.client, doubled: data.n * 2, principal: ctx.principal };
    });

    const changes = new Changes();
    for (let i = 0; i < CLIENTS; i++) {
      clients.push(
        new RecordingClient(server.url, {
          changes,
          ackTimeoutMs: 3_000,
          retry: { initialMs: 20, maxMs: 300, factor: 2 },
          maxPending: PER_CLIENT,
        }),
      );
    }
    await Promise.all(clients.map((c) => c.client.connect()));
    await changes.until(() => clients.every((c) => c.socket.connected), {
      what: "every client connected",
    });

    const churn = startChurn(
      clients.map((c) => c.socket),
      { minMs: 200, maxMs: 400, maxDurationMs: 30_000 },
    );
    const started = Date.now();
    const results = await Promise.all(
      clients.map(async (c, client) => {
        const replies: Promise<unknown>[] = [];
        for (let n = 1; n <= PER_CLIENT; n++) {
          replies.push(c.client.emit("work", { client, n }));
        }
        return Promise.all(replies);
      }),
    );
    const elapsed = Date.now() - started;
    const drops = churn.drops;
    churn.stop();

    for (const [client, replies] of results.entries()) {
      const principal = clients[client]!.client.clientId!;
      expect(replies).toEqual(
        Array.from({ length: PER_CLIENT }, (_, k) => ({
          client,
          doubled: (k + 1) * 2,
          principal,
        })),
      );
      // G10: handled in send order; G9: each seq (so each message) exactly once.
      expect(order.get(principal)).toEqual(Array.from({ length: PER_CLIENT }, (_, k) => k + 1));
      const handledSeqs = seqs.get(principal)!;
      expect(handledSeqs.every((s, i) => i === 0 || s > handledSeqs[i - 1]!)).toBe(true);
      expect(clients[client]!.client.pending()).toEqual([]);
    }
    expect(invocations.size).toBe(CLIENTS * PER_CLIENT);
    expect([...invocations.values()].every((count) => count === 1)).toBe(true);
    expect(drops).toBeGreaterThan(10);
    // Resends happened (and were answered without running the handler again).
    expect(frames).toBeGreaterThan(CLIENTS * PER_CLIENT);
    console.log(
      `client→server: ${CLIENTS * PER_CLIENT} messages (${frames} frames) in ${elapsed} ms with ${drops} connection drops`,
    );
  });

  it("G9: the same message id from two connections of one user (identify hook) runs once; the duplicate waits and gets the same result; another payload conflicts", async () => {
    const running = await startSocketServer({
      identify: (socket) => (socket.handshake.auth as { user: string }).user,
    });
    servers.push(running);
    const gate = deferred();
    const started = new Changes();
    const runs: string[] = [];
    running.assured.on("pay", async (data: { amount: number }, { principal, id }) => {
      const receipt = runs.push(`${principal}:${id}:${data.amount}`);
      started.notify();
      await gate.promise;
      return { charged: data.amount, receipt };
    });
    const tabs = [0, 1].map(() => {
      const tab = new RecordingClient(running.url, { socket: { auth: { user: "ann" } } });
      clients.push(tab);
      return tab;
    });
    const other = new RecordingClient(running.url, { socket: { auth: { user: "bob" } } });
    clients.push(other);
    await Promise.all([...tabs, other].map((c) => c.client.connect()));

    const first = tabs[0]!.client.emit("pay", { amount: 42 }, { id: "order-42" });
    await started.until(() => runs.length === 1);
    // While the first run holds the claim, the second tab sends the same id.
    const second = tabs[1]!.client.emit("pay", { amount: 42 }, { id: "order-42" });
    // Another user's identical id is another message.
    const bobs = other.client.emit("pay", { amount: 42 }, { id: "order-42" });
    await started.until(() => runs.length === 2);
    gate.resolve();
    const [a, b, c] = await Promise.all([first, second, bobs]);
    expect(a).toEqual({ charged: 42, receipt: 1 });
    expect(b).toEqual(a);
    expect(c).toEqual({ charged: 42, receipt: 2 });
    expect(runs).toEqual(["ann:order-42:42", "bob:order-42:42"]);

    await expect(
      tabs[1]!.client.emit("pay", { amount: 1_000 }, { id: "order-42" }),
    ).rejects.toMatchObject({ code: "IDEMPOTENCY_CONFLICT" });
    expect(runs).toHaveLength(2);
  });
});
