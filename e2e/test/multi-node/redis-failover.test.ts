import { freePort } from "@assured/test-services";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientFleet } from "../../src/multi-node/client-fleet.js";
import { FailoverProxy } from "../../src/multi-node/failover-proxy.js";
import { RedisHandledLog, runsPerMessage } from "../../src/multi-node/handled-log.js";
import { NodeProcess } from "../../src/multi-node/node-process.js";
import { type RedisFixture, redisFixture } from "../../src/multi-node/redis-fixture.js";
import { StreamPublisher } from "../../src/multi-node/stream-publisher.js";
import { waitFor } from "../../src/multi-node/wait-for.js";

const CLIENTS = 4;
const STREAM = "feed:multi-node";

let redis: RedisFixture | undefined;
const nodes: NodeProcess[] = [];
let proxy: FailoverProxy | undefined;
let fleet: ClientFleet | undefined;

beforeAll(async () => {
  redis = await redisFixture("failover");
});

afterAll(async () => {
  await fleet?.close();
  await proxy?.close();
  await Promise.allSettled(nodes.map((n) => n.stop()));
  await redis?.stop();
});

describe("multi-node on Redis: RedisEventStore, RedisDedupStore, Socket.IO Redis adapter", () => {
  it("G2/G3/G5/G9: clients on node A get node B's events live; A is SIGKILLed mid-stream; they fail over to B with nothing lost or duplicated and their outboxes drain once", {
    timeout: 30_000,
  }, async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const { url: redisUrl, keyPrefix, watcher } = redis!;
    const common = { store: "redis", redisUrl, keyPrefix } as const;
    nodes.push(
      ...(await Promise.all([
        NodeProcess.start({ ...common, name: "A", port: portA }),
        NodeProcess.start({ ...common, name: "B", port: portB }),
      ])),
    );
    const [nodeA, nodeB] = nodes as [NodeProcess, NodeProcess];
    // Clients reach the nodes through one address, as behind a load balancer: their
    // connections go to A while it lives, then their own reconnection lands on B. (A client
    // given a list of node URLs is not something socket.io-client has; a proxy we control is
    // the honest, simplest way to move the same unmodified clients from A to B.)
    proxy = await FailoverProxy.start([portA, portB]);
    const lb = proxy;
    fleet = new ClientFleet(CLIENTS, lb.url, STREAM);
    const { clients } = fleet;
    await fleet.connect();
    expect(lb.connectionsTo(portA)).toBe(CLIENTS);

    // Every event is published on node B.
    const publisher = new StreamPublisher(STREAM);
    const head = () => publisher.head();

    // 1. Live across nodes: B publishes, the adapter fans out to A's sockets; A handles messages.
    const liveIds: string[] = [];
    for (let round = 0; round < 6; round++) {
      await publisher.publishBatch(nodeB);
      fleet.sendRound(liveIds);
    }
    await fleet.caughtUp(head, "live events and answers");

    // 2. A one-way partition: nothing from A reaches the clients any more. A handles these
    //    messages (handler run, answer stored for duplicates) but its answers are lost.
    //    Meanwhile B publishes a backlog of several catch-up pages (fetchLimit is 1000).
    lb.freeze();
    const partitionedIds: string[] = [];
    for (let round = 0; round < 3; round++) {
      fleet.sendRound(partitionedIds);
      for (let i = 0; i < 4; i++) await publisher.publishBatch(nodeB, 100);
    }
    await waitFor(
      () => {
        const held = lb.heldText();
        return partitionedIds.every((id) => held.includes(id));
      },
      10_000,
      "node A's answers to every partitioned message",
    );

    // 3. Mid-stream: B keeps publishing while A is SIGKILLed and the clients send more.
    const aroundKillIds: string[] = [];
    publisher.start(nodeB, () =>
      clients.every((c) => !c.socket.connected || ClientFleet.reached(c, head())),
    );
    try {
      await nodeA.kill();
      for (let round = 0; round < 3; round++) fleet.sendRound(aroundKillIds);

      // 4. The clients reconnect through the proxy, to B, and recover from their positions.
      await fleet.subscribed(2, "every client resubscribed on B");
      const batchesAtReconnect = publisher.loopBatches;
      await waitFor(
        () => publisher.loopBatches >= batchesAtReconnect + 3,
        10_000,
        "live events on B",
      );
    } finally {
      await publisher.stop();
    }
    expect(lb.connectionsTo(portB)).toBe(CLIENTS);
    await fleet.caughtUp(head, "every event and every answer");

    // Delivery: per client, exactly the published offsets, in order, once, with their data.
    expect(publisher.epochs()).toHaveLength(1);
    const expected = publisher.inEpoch();
    expect(expected.map((e) => e.offset)).toEqual(expected.map((_, i) => i + 1));
    for (const c of clients) {
      expect(c.offsets()).toEqual(expected.map((e) => e.offset));
      expect(c.deliveries.map((d) => d.data)).toEqual(expected.map((e) => e.data));
      expect(c.outcomes.map((o) => o.recovered)).toEqual([true, true]);
      expect(c.connects).toBe(2);
      expect(c.errors).toEqual([]);
      expect(c.failures.size).toBe(0);
    }

    // Messages: each handler ran exactly once, on the node whose answer the client got.
    const answers = new Map(clients.flatMap((c) => [...c.answers]));
    const answeredBy = (ids: string[]) => new Set(ids.map((id) => answers.get(id)?.node));
    expect(answeredBy(liveIds)).toEqual(new Set(["A"]));
    // Resent to B after the crash and answered with what A stored: not run again.
    expect(answeredBy(partitionedIds)).toEqual(new Set(["A"]));
    expect(answeredBy(aroundKillIds)).toEqual(new Set(["B"]));
    const entries = await new RedisHandledLog(watcher, keyPrefix).entries();
    const runs = runsPerMessage(entries);
    const allIds = [...liveIds, ...partitionedIds, ...aroundKillIds];
    expect(runs.size).toBe(allIds.length);
    for (const id of allIds) expect(runs.get(id), id).toBe(1);
    for (const entry of entries) expect(entry.node).toBe(answers.get(entry.id)?.node);
  });
});
