import { freePort } from "@assured/test-services";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeProcess } from "../../src/multi-node/node-process.js";
import { type RedisFixture, redisFixture } from "../../src/multi-node/redis-fixture.js";
import { StreamPublisher } from "../../src/multi-node/stream-publisher.js";
import { TrackedClient } from "../../src/multi-node/tracked-client.js";
import { waitFor } from "../../src/multi-node/wait-for.js";

const STREAM = "feed:shared";
const ROUNDS = 20;

let redis: RedisFixture | undefined;
const nodes: NodeProcess[] = [];
const clients: TrackedClient[] = [];

beforeAll(async () => {
  redis = await redisFixture("shared-stream");
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled(nodes.map((n) => n.stop()));
  await redis?.stop();
});

describe("multi-node on Redis: two nodes appending to one stream", () => {
  it("G1/G2/G3: both nodes publish to the same stream at once; clients on either node see every offset once, in order", {
    timeout: 30_000,
  }, async () => {
    const { url: redisUrl, keyPrefix } = redis!;
    const [portA, portB] = [await freePort(), await freePort()];
    const common = { store: "redis", redisUrl, keyPrefix } as const;
    nodes.push(
      ...(await Promise.all([
        NodeProcess.start({ ...common, name: "A", port: portA }),
        NodeProcess.start({ ...common, name: "B", port: portB }),
      ])),
    );
    const [nodeA, nodeB] = nodes as [NodeProcess, NodeProcess];
    for (const [i, node] of [nodeA, nodeA, nodeB, nodeB].entries()) {
      clients.push(new TrackedClient({ name: `c${i}`, url: node.url, stream: STREAM }));
    }
    await Promise.all(clients.map((c) => c.connect()));
    await waitFor(
      () => clients.every((c) => c.socket.connected && c.outcomes.length === 1),
      10_000,
      "every client subscribed",
    );

    // Each round, two batches from each node race for the stream's next offsets; each node
    // emits its own events locally and through the adapter to the other node's clients.
    const publisher = new StreamPublisher(STREAM);
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all([nodeA, nodeB, nodeA, nodeB].map((node) => publisher.publishBatch(node)));
    }
    const expected = publisher.inEpoch();
    expect(expected.map((e) => e.offset)).toEqual(expected.map((_, i) => i + 1));
    expect(expected).toHaveLength(ROUNDS * 4 * publisher.batchSize);
    await waitFor(
      () => clients.every((c) => (c.offsets().at(-1) ?? 0) >= expected.length),
      15_000,
      () => `offset ${expected.length}; at ${clients.map((c) => c.offsets().at(-1) ?? 0)}`,
    );

    for (const c of clients) {
      expect(c.offsets()).toEqual(expected.map((e) => e.offset));
      expect(c.deliveries.map((d) => d.data)).toEqual(expected.map((e) => e.data));
      expect(c.errors).toEqual([]);
    }
  });
});
