import { freePort } from "@assured/test-services";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clockFileOf, findLibfaketime, writeClockOffset } from "../../src/chaos/clock-jump.js";
import { FailoverProxy } from "../../src/multi-node/failover-proxy.js";
import { RedisHandledLog } from "../../src/multi-node/handled-log.js";
import type { RedisNodeConfig } from "../../src/multi-node/node-config.js";
import { NodeProcess } from "../../src/multi-node/node-process.js";
import { type RedisFixture, redisFixture } from "../../src/multi-node/redis-fixture.js";
import { TrackedClient } from "../../src/multi-node/tracked-client.js";
import { waitFor } from "../../src/multi-node/wait-for.js";

const LEASE_MS = 1_500;
/** Node A's wall clock is 5 minutes behind, node B's 5 minutes ahead (libfaketime). */
const SKEW_MS = 300_000;

let redis: RedisFixture | undefined;
const nodes: NodeProcess[] = [];
const clockFiles: string[] = [];
let proxy: FailoverProxy | undefined;
let client: TrackedClient | undefined;

beforeAll(async () => {
  redis = await redisFixture("clock-skew");
});

afterAll(async () => {
  await client?.close();
  await proxy?.close();
  await Promise.allSettled(nodes.map((n) => n.stop()));
  for (const file of clockFiles) writeClockOffset(file, 0);
  await redis?.stop();
});

describe("multi-node on Redis: nodes whose wall clocks are minutes apart", () => {
  it("G9: a lease is judged by Redis's clock: the node ahead does not take over the claim of the node behind before the lease ends", {
    timeout: 30_000,
  }, async () => {
    expect(findLibfaketime(), "libfaketime (run scripts/ensure-tools.sh)").toBeDefined();
    const { url: redisUrl, keyPrefix, watcher } = redis!;
    const common = { store: "redis", redisUrl, keyPrefix, leaseMs: LEASE_MS } as const;
    const configs: RedisNodeConfig[] = [
      { ...common, name: "A", port: await freePort() },
      { ...common, name: "B", port: await freePort() },
    ];
    for (const [config, offsetMs] of [
      [configs[0]!, -SKEW_MS],
      [configs[1]!, SKEW_MS],
    ] as const) {
      const file = clockFileOf(config);
      clockFiles.push(file);
      writeClockOffset(file, offsetMs);
    }
    nodes.push(...(await Promise.all(configs.map((config) => NodeProcess.start(config)))));
    const [nodeA, nodeB] = nodes as [NodeProcess, NodeProcess];
    expect((await nodeA.clock())?.offsetMs).toBe(-SKEW_MS);
    expect((await nodeB.clock())?.offsetMs).toBe(SKEW_MS);
    proxy = await FailoverProxy.start(configs.map((c) => c.port));
    const c = new TrackedClient({ name: "c", url: proxy.url, stream: "feed:clock-skew" });
    client = c;
    await c.connect();
    await waitFor(() => c.outcomes.length === 1, 10_000, "the client subscribed");
    const log = new RedisHandledLog(watcher, keyPrefix);

    // A claims the message and never finishes it; then A dies and the client resends to B.
    const hung = c.record(1, { hangOn: "A" });
    await waitFor(
      async () => (await log.entries()).some((e) => e.id === hung),
      10_000,
      "node A running the handler",
    );
    await nodeA.kill();
    await waitFor(
      () => c.drained(),
      10_000,
      () => `answers; ${c.answers.size}/${c.sent.size}`,
    );
    expect(c.answers.get(hung)).toEqual({ node: "B", client: "c", n: 1 });
    const [onA, onB] = await log.entries();
    expect([onA?.node, onB?.node]).toEqual(["A", "B"]);
    // Handled-log times are real times. With each node's own clock, B (10 minutes ahead of A)
    // saw A's lease long expired and ran the message at once; by Redis's clock it waited.
    expect(onB!.at - onA!.at).toBeGreaterThanOrEqual(LEASE_MS - 250);
    expect(c.errors).toEqual([]);
  });
});
