import { freePort } from "@assured/test-services";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailoverProxy } from "../../src/multi-node/failover-proxy.js";
import { RedisHandledLog } from "../../src/multi-node/handled-log.js";
import { NodeProcess } from "../../src/multi-node/node-process.js";
import { type RedisFixture, redisFixture } from "../../src/multi-node/redis-fixture.js";
import { TrackedClient } from "../../src/multi-node/tracked-client.js";
import { waitFor } from "../../src/multi-node/wait-for.js";

const LEASE_MS = 1_500;

let redis: RedisFixture | undefined;
const nodes: NodeProcess[] = [];
let proxy: FailoverProxy | undefined;
let client: TrackedClient | undefined;

beforeAll(async () => {
  redis = await redisFixture("handler-crash");
});

afterAll(async () => {
  await client?.close();
  await proxy?.close();
  await Promise.allSettled(nodes.map((n) => n.stop()));
  await redis?.stop();
});

describe("multi-node on Redis: a node SIGKILLed in the middle of a handler", () => {
  it("G9: the claim expires after the lease, the other node runs the message again once, and the messages behind it once, in order", {
    timeout: 30_000,
  }, async () => {
    const { url: redisUrl, keyPrefix, watcher } = redis!;
    const [portA, portB] = [await freePort(), await freePort()];
    const common = { store: "redis", redisUrl, keyPrefix, leaseMs: LEASE_MS } as const;
    nodes.push(
      ...(await Promise.all([
        NodeProcess.start({ ...common, name: "A", port: portA }),
        NodeProcess.start({ ...common, name: "B", port: portB }),
      ])),
    );
    const [nodeA] = nodes as [NodeProcess, NodeProcess];
    // Behind a load balancer: connections go to A while it lives, then to B.
    proxy = await FailoverProxy.start([portA, portB]);
    const c = new TrackedClient({ name: "c", url: proxy.url, stream: "feed:handler-crash" });
    client = c;
    await c.connect();
    await waitFor(() => c.outcomes.length === 1, 10_000, "the client subscribed");
    const log = new RedisHandledLog(watcher, keyPrefix);

    const done = c.record(1);
    await waitFor(() => c.answers.has(done), 10_000, "the first answer");
    // A starts this message's handler and never finishes it; the next one queues behind it.
    const crashed = c.record(2, { hangOn: "A" });
    const after = c.record(3);
    await waitFor(
      async () => (await log.entries()).some((e) => e.id === crashed),
      10_000,
      "node A running the handler",
    );
    await nodeA.kill();

    // The client resends both to B: B finds A's claim, waits for its lease, then runs it.
    await waitFor(
      () => c.drained(),
      10_000,
      () => `answers; ${c.answers.size}/${c.sent.size}`,
    );

    expect(c.answers.get(done)).toEqual({ node: "A", client: "c", n: 1 });
    expect(c.answers.get(crashed)).toEqual({ node: "B", client: "c", n: 2 });
    expect(c.answers.get(after)).toEqual({ node: "B", client: "c", n: 3 });
    expect(c.failures.size).toBe(0);
    // Runs: the first on A; the crashed one on A (unfinished) and again once on B; then the
    // one behind it, once, on B.
    const entries = await log.entries();
    expect(entries.map(({ id, node }) => ({ id, node }))).toEqual([
      { id: done, node: "A" },
      { id: crashed, node: "A" },
      { id: crashed, node: "B" },
      { id: after, node: "B" },
    ]);
    // A's claim kept B from running the message until the lease ran out (A claimed just
    // before its run started; the margin covers that gap on a loaded machine).
    const [, onA, onB] = entries;
    expect(onB!.at - onA!.at).toBeGreaterThanOrEqual(LEASE_MS - 250);
    expect(c.errors).toEqual([]);
  });
});
