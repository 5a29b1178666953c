import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { freePort, type RunningPostgres, startPostgres } from "@assured/test-services";
import pg from "pg";
import { Server } from "socket.io";
import { io as connect } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientFleet } from "../../src/multi-node/client-fleet.js";
import { FailoverProxy } from "../../src/multi-node/failover-proxy.js";
import { PostgresHandledLog, runsPerMessage } from "../../src/multi-node/handled-log.js";
import { openBackend } from "../../src/multi-node/node-backend.js";
import { NodeProcess } from "../../src/multi-node/node-process.js";
import { preparePostgres } from "../../src/multi-node/postgres-fixture.js";
import { StreamPublisher } from "../../src/multi-node/stream-publisher.js";
import { waitFor } from "../../src/multi-node/wait-for.js";

const CLIENTS_PER_NODE = 3;
const STREAM = "feed:postgres";

let postgres: RunningPostgres | undefined;
const nodes: NodeProcess[] = [];
const proxies: FailoverProxy[] = [];
const fleets: ClientFleet[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
  await preparePostgres(postgres.url);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(fleets.map((f) => f.close()));
  await Promise.allSettled(proxies.map((p) => p.close()));
  await Promise.allSettled(nodes.map((n) => n.stop()));
  await postgres?.stop();
});

describe("multi-node on PostgreSQL alone: PostgresEventStore, PostgresDedupStore, Socket.IO PostgreSQL adapter", () => {
  it("the adapter relays a binary room broadcast and a fetchSockets request between two nodes' backends", async () => {
    const open = (name: string) =>
      openBackend({ name, port: 0, store: "postgres", postgresUrl: postgres!.url });
    const backends = [await open("x"), await open("y")];
    const http = createServer();
    const x = new Server(http, { adapter: backends[0]!.adapter! });
    // Node y never listens: it only broadcasts and asks, through the adapter.
    const y = new Server(createServer(), { adapter: backends[1]!.adapter! });
    try {
      http.listen(0, "127.0.0.1");
      await once(http, "listening");
      x.on("connection", (socket) => void socket.join("room"));
      for (const backend of backends) await waitFor(() => backend.healthy(), 10_000, "healthy");
      const client = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, {
        transports: ["websocket"],
      });
      try {
        await new Promise<void>((resolve) => client.once("connect", resolve));
        await waitFor(
          async () => (await y.in("room").fetchSockets()).length === 1,
          10_000,
          "y to see x's socket in the room",
        );
        // Binary, like Assured's batches: the adapter sends it through its attachments table.
        const received = new Promise<Buffer>((resolve) => client.once("hello", resolve));
        y.to("room").emit("hello", Buffer.from([1, 2, 3]));
        const bytes = await received;
        expect([...bytes]).toEqual([1, 2, 3]);
      } finally {
        client.close();
      }
    } finally {
      await Promise.all([x.close(), y.close()]);
      await Promise.all(backends.map((backend) => backend.close()));
    }
  }, 30_000);

  it("G2/G3/G5/G9: clients on both nodes get both nodes' events live; A is SIGKILLed mid-stream with answers lost in the clients' outboxes; A's clients fail over to B with nothing lost or duplicated and every message handled once", {
    timeout: 60_000,
  }, async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const common = { store: "postgres", postgresUrl: postgres!.url } as const;
    nodes.push(
      ...(await Promise.all([
        NodeProcess.start({ ...common, name: "A", port: portA }),
        NodeProcess.start({ ...common, name: "B", port: portB }),
      ])),
    );
    const [nodeA, nodeB] = nodes as [NodeProcess, NodeProcess];
    // Healthy: the stores answer and each adapter's LISTEN connection is up, so a NOTIFY of one
    // node reaches the other from the first event on.
    await waitFor(
      async () => (await nodeA.healthy()) && (await nodeB.healthy()),
      20_000,
      "both nodes healthy (stores and adapters)",
    );

    // Two load balancers: one prefers A, one B; each fails over to the other node.
    const lbA = await FailoverProxy.start([portA, portB]);
    const lbB = await FailoverProxy.start([portB, portA]);
    proxies.push(lbA, lbB);
    const onA = new ClientFleet(CLIENTS_PER_NODE, lbA.url, STREAM, "a");
    const onB = new ClientFleet(CLIENTS_PER_NODE, lbB.url, STREAM, "b");
    fleets.push(onA, onB);
    await Promise.all([onA.connect(), onB.connect()]);
    expect(lbA.connectionsTo(portA)).toBe(CLIENTS_PER_NODE);
    expect(lbB.connectionsTo(portB)).toBe(CLIENTS_PER_NODE);
    const clients = [...onA.clients, ...onB.clients];

    const publisher = new StreamPublisher(STREAM);
    const head = () => publisher.head();
    const caughtUp = (what: string) =>
      Promise.all([onA.caughtUp(head, what), onB.caughtUp(head, what)]);

    // 1. Live across nodes: batches published on A and on B in turn; NOTIFY carries each to the
    //    other node's sockets. Each node handles its own clients' messages.
    const liveA: string[] = [];
    const liveB: string[] = [];
    for (let round = 0; round < 6; round++) {
      await publisher.publishBatch(round % 2 === 0 ? nodeA : nodeB);
      onA.sendRound(liveA);
      onB.sendRound(liveB);
    }
    await caughtUp("live events and answers");

    // 2. A one-way partition of A's clients: A handles their messages (the handler runs, the
    //    answer is stored for duplicates) but the answers never reach them, so the messages stay
    //    in their outboxes. Meanwhile both nodes publish a backlog of several replay pages.
    lbA.freeze();
    const partitioned: string[] = [];
    for (let round = 0; round < 3; round++) {
      onA.sendRound(partitioned);
      await publisher.publishBatch(nodeA, 100);
      await publisher.publishBatch(nodeB, 100);
    }
    await waitFor(
      () => {
        const held = lbA.heldText();
        return partitioned.every((id) => held.includes(id));
      },
      10_000,
      "node A's answers to every partitioned message",
    );

    // 3. Mid-stream: B keeps publishing while A is SIGKILLed and every client sends more (A's
    //    clients into their outboxes, while they have no node).
    const aroundKillA: string[] = [];
    const aroundKillB: string[] = [];
    publisher.start(nodeB, () =>
      clients.every((c) => !c.socket.connected || ClientFleet.reached(c, head())),
    );
    try {
      await nodeA.kill();
      for (let round = 0; round < 3; round++) {
        onA.sendRound(aroundKillA);
        onB.sendRound(aroundKillB);
      }

      // 4. A's clients reconnect through their balancer, to B, and recover from their positions.
      await onA.subscribed(2, "every client of A resubscribed on B");
      const batchesAtReconnect = publisher.loopBatches;
      await waitFor(
        () => publisher.loopBatches >= batchesAtReconnect + 3,
        10_000,
        "live events on B",
      );
    } finally {
      await publisher.stop();
    }
    expect(lbA.connectionsTo(portB)).toBe(CLIENTS_PER_NODE);
    await caughtUp("every event and every answer");

    // Delivery: per client, exactly the published offsets, in order, once, with their data.
    expect(publisher.epochs()).toHaveLength(1);
    const expected = publisher.inEpoch();
    expect(expected.map((e) => e.offset)).toEqual(expected.map((_, i) => i + 1));
    for (const c of clients) {
      expect(c.offsets(), c.name).toEqual(expected.map((e) => e.offset));
      expect(c.deliveries.map((d) => d.data)).toEqual(expected.map((e) => e.data));
      expect(c.errors).toEqual([]);
      expect(c.failures.size).toBe(0);
      expect(c.drained()).toBe(true);
    }
    for (const c of onA.clients) {
      expect(c.outcomes.map((o) => o.recovered)).toEqual([true, true]);
      expect(c.connects).toBe(2);
    }
    for (const c of onB.clients) {
      expect(c.outcomes.map((o) => o.recovered)).toEqual([true]);
      expect(c.connects).toBe(1);
    }

    // Messages: each handler ran exactly once, on the node whose answer the client got.
    const answers = new Map(clients.flatMap((c) => [...c.answers]));
    const answeredBy = (ids: string[]) => new Set(ids.map((id) => answers.get(id)?.node));
    expect(answeredBy(liveA)).toEqual(new Set(["A"]));
    expect(answeredBy(liveB)).toEqual(new Set(["B"]));
    // Resent to B after the crash and answered with what A stored: not run again.
    expect(answeredBy(partitioned)).toEqual(new Set(["A"]));
    expect(answeredBy([...aroundKillA, ...aroundKillB])).toEqual(new Set(["B"]));
    const watcher = new pg.Pool({ connectionString: postgres!.url, max: 1 });
    const entries = await new PostgresHandledLog(watcher).entries().finally(() => watcher.end());
    const runs = runsPerMessage(entries);
    const allIds = [...liveA, ...liveB, ...partitioned, ...aroundKillA, ...aroundKillB];
    expect(runs.size).toBe(allIds.length);
    for (const id of allIds) expect(runs.get(id), id).toBe(1);
    for (const entry of entries) expect(entry.node).toBe(answers.get(entry.id)?.node);
  });
});
