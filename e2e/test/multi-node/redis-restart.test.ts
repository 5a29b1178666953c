import { newId } from "@assured/core/store";
import { freePort, type RunningService, startRedis } from "@assured/test-services";
import { afterEach, describe, expect, it } from "vitest";
import { FailoverProxy } from "../../src/multi-node/failover-proxy.js";
import { NodeProcess } from "../../src/multi-node/node-process.js";
import { type PublishedEvent, StreamPublisher } from "../../src/multi-node/stream-publisher.js";
import { TrackedClient } from "../../src/multi-node/tracked-client.js";
import { waitFor } from "../../src/multi-node/wait-for.js";

const CLIENTS = 3;
const STREAM = "feed:redis-restart";

// These tests restart redis-server themselves, so they always run their own (not REDIS_URL).
let redis: RunningService | undefined;
let node: NodeProcess | undefined;
let proxy: FailoverProxy | undefined;
const clients: TrackedClient[] = [];

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  await proxy?.close();
  await node?.stop();
  await redis?.stop();
  proxy = node = redis = undefined;
});

/**
 * Redis, one node on it (Redis stores and adapter), a proxy in front of it and clients that
 * resync from "earliest" when told they cannot recover; 20 events delivered before the restart.
 */
async function startDelivering() {
  redis = await startRedis();
  const redisPort = Number(new URL(redis.url).port);
  const port = await freePort();
  const keyPrefix = `e2e:redis-restart:${newId()}:`;
  node = await NodeProcess.start({
    store: "redis",
    redisUrl: redis.url,
    keyPrefix,
    name: "N",
    port,
  });
  const server = node;
  proxy = await FailoverProxy.start([port]);
  for (let i = 0; i < CLIENTS; i++) {
    clients.push(
      new TrackedClient({ name: `c${i}`, url: proxy.url, stream: STREAM, resyncOnLoss: true }),
    );
  }
  await Promise.all(clients.map((c) => c.connect()));
  await waitFor(
    () => clients.every((c) => c.socket.connected && c.outcomes.length === 1),
    10_000,
    "every client subscribed",
  );
  const publisher = new StreamPublisher(STREAM);
  /** Waits until every client has the latest epoch's events up to its head. */
  const atHead = () => {
    const epoch = publisher.epochs().at(-1)!;
    const last = (c: TrackedClient) => c.offsetsIn(epoch).at(-1) ?? 0;
    return waitFor(
      () => clients.every((c) => last(c) >= publisher.head()),
      10_000,
      () => `offset ${publisher.head()} of epoch ${epoch}; at ${clients.map(last)}`,
    );
  };
  for (let i = 0; i < 4; i++) await publisher.publishBatch(server);
  await atHead();

  /** Stops Redis and starts it again, empty, on the same port; waits until the node is back. */
  const restartRedis = async () => {
    await redis?.stop();
    redis = await startRedis({ port: redisPort });
    await waitFor(() => server.healthy(), 10_000, "the node to reach the new Redis");
  };
  return { server, port, lb: proxy, publisher, atHead, restartRedis };
}

/** What each client must have seen: the outcomes, then the events of both epochs, once. */
function expectResynced(before: PublishedEvent[], after: PublishedEvent[]): void {
  expect(after.map((e) => e.offset)).toEqual(after.map((_, i) => i + 1));
  expect(after).toHaveLength(20);
  expect(after[0]!.epoch).not.toBe(before[0]!.epoch);
  for (const c of clients) {
    expect(c.outcomes.map(({ recovered, reason }) => ({ recovered, reason }))).toEqual([
      { recovered: true, reason: undefined },
      { recovered: false, reason: "epoch" },
      { recovered: true, reason: undefined },
    ]);
    expect(c.deliveries).toEqual(
      [...before, ...after].map(({ offset, epoch, data }) => ({ offset, epoch, data })),
    );
    expect(c.errors).toEqual([]);
  }
}

describe("Redis restarted without persistence mid-run", () => {
  it('G6: on their next resubscription clients get recovered: false, reason: "epoch"; resyncing from "earliest" delivers the events published after the restart, in order, once', {
    timeout: 30_000,
  }, async () => {
    const { server, port, lb, publisher, atHead, restartRedis } = await startDelivering();
    await restartRedis();

    // The clients lose their connections and stay away (the proxy refuses them) while
    // events are published after the restart, then come back with their old positions.
    lb.setUpstreams([]);
    lb.cutConnections();
    await waitFor(() => clients.every((c) => !c.socket.connected), 10_000, "disconnected");
    await publisher.publishBatch(server);
    await publisher.publishBatch(server);
    lb.setUpstreams([port]);

    // The old position is from another epoch: not recovered, reason "epoch"; the
    // application resubscribes from "earliest" and that subscription recovers.
    await waitFor(
      () => clients.every((c) => c.socket.connected && c.outcomes.length === 3),
      10_000,
      () => `epoch outcome and resync; ${clients.map((c) => JSON.stringify(c.outcomes))}`,
    );
    await publisher.publishBatch(server);
    await publisher.publishBatch(server);
    await atHead();

    const [before, after] = publisher.epochs().map((epoch) => publisher.inEpoch(epoch));
    expectResynced(before!, after!);
  });

  it('G6: clients that stay connected get recovered: false, reason: "epoch" from the first live event of the new log; resyncing delivers every event after the restart once', {
    timeout: 30_000,
  }, async () => {
    const { server, publisher, atHead, restartRedis } = await startDelivering();
    await restartRedis();

    // The first live batch carries the new epoch: the clients cannot continue from their
    // position, say so, and the application resyncs from "earliest".
    await publisher.publishBatch(server);
    await waitFor(
      () => clients.every((c) => c.outcomes.length === 3),
      10_000,
      () => `epoch outcome and resync; ${clients.map((c) => JSON.stringify(c.outcomes))}`,
    );
    for (let i = 0; i < 3; i++) await publisher.publishBatch(server);
    await atHead();

    const [before, after] = publisher.epochs().map((epoch) => publisher.inEpoch(epoch));
    expectResynced(before!, after!);
    expect(clients.every((c) => c.connects === 1)).toBe(true);
  });
});
