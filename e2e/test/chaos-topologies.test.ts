import { once } from "node:events";
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { newId } from "@assured/core/store";
import { type RunningRedisCluster, startRedisCluster } from "@assured/test-services";
import { Server } from "socket.io";
import { io as connect } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FaultKind, NODE_FAULTS, shortProfile, type Topology } from "../src/chaos/profiles.js";
import { type ChaosResult, runChaos } from "../src/chaos/run-chaos.js";
import { loadChaosStoreModule } from "../src/chaos/store-module.js";
import { openBackend } from "../src/multi-node/node-backend.js";

/**
 * The chaos topologies beyond the three of `chaos.test.ts`: Redis Cluster (nodes with the Redis
 * adapter on ioredis `Cluster` clients), PostgreSQL (nodes with the PostgreSQL adapter, the
 * server restarted on its data too) and a store of your own, plugged in through its module
 * (here the file stores of `examples/custom-store`), each for about 10 s of faults under a
 * fixed seed, node kills included.
 */
const SEED = 20_261_129;
const FAULT_MS = 10_000;
/**
 * The network, node and client faults, pinned (not the profile's list, which grows), so the
 * seed keeps drawing the same kinds: under it the 10 s include a node kill.
 */
const FAULTS: FaultKind[] = [...NODE_FAULTS];
/**
 * The PostgreSQL run's faults and seed. `cut` and `half-open` draw once per open connection,
 * so what they draw depends on timing and the kinds after them change from run to run; without
 * them every draw is fixed by the seed, and seed 4 kills node n0 at about 2 s and restarts
 * PostgreSQL at about 5 s (then a stall, latency and bandwidth toxics).
 */
const POSTGRES_FAULTS: FaultKind[] = [
  "stall",
  "latency",
  "bandwidth",
  "kill-node",
  "busy-client",
  "restart-store",
];
const POSTGRES_SEED = 4;
/** The example's module, by file path: e2e does not depend on the example package. */
const EXAMPLE_STORE = fileURLToPath(
  new URL("../../examples/custom-store/src/harness.ts", import.meta.url),
);

async function chaos(
  topology: Topology,
  storeModule?: string,
  faults: FaultKind[] = FAULTS,
  seed = SEED,
): Promise<ChaosResult> {
  const profile = { ...shortProfile(topology), faults, durationMs: FAULT_MS, storeModule };
  const result = await runChaos(profile, seed);
  console.log(result.report.split("\n").slice(0, 6).join("\n"));
  expect(result.verdict.violations, result.report).toEqual([]);
  expect(result.verdict.figures.messages).toBe(
    profile.workers * profile.clientsPerWorker * profile.messagesPerClient,
  );
  // The seed's schedule kills a node (and the node comes back on the same data).
  expect(
    result.verdict.figures.faults["node-restarted"] ?? 0,
    "no node was killed: pick a seed whose schedule kills one",
  ).toBeGreaterThan(0);
  return result;
}

describe("Socket.IO Redis adapter on a Redis Cluster", () => {
  let cluster: RunningRedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 });
  }, 60_000);
  afterAll(() => cluster?.stop());

  it("relays a room broadcast and a fetchSockets request between two nodes' backends", async () => {
    const keyPrefix = `adapter:${newId()}:`;
    const open = (name: string) =>
      openBackend({
        name,
        port: 0,
        store: "redis-cluster",
        clusterNodes: cluster.nodes,
        keyPrefix,
      });
    const backends = [await open("a"), await open("b")];
    const http = createServer();
    const a = new Server(http, { adapter: backends[0]!.adapter! });
    // Node b never listens: it only broadcasts and asks, through the adapter.
    const b = new Server(createServer(), { adapter: backends[1]!.adapter! });
    try {
      http.listen(0, "127.0.0.1");
      await once(http, "listening");
      a.on("connection", (socket) => void socket.join("room"));
      // The subscriptions are made once each backend's clients are ready.
      for (const backend of backends) {
        await expect.poll(() => backend.healthy(), { timeout: 10_000 }).toBe(true);
      }
      const client = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, {
        transports: ["websocket"],
      });
      try {
        await new Promise<void>((resolve) => client.once("connect", resolve));
        // fetchSockets asks every node (PUBSUB NUMSUB summed over the masters, then a request).
        await expect
          .poll(async () => (await b.in("room").fetchSockets()).length, { timeout: 10_000 })
          .toBe(1);
        const received = new Promise<unknown>((resolve) => client.once("hello", resolve));
        b.to("room").emit("hello", "from b");
        expect(await received).toBe("from b");
      } finally {
        client.close();
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
      await Promise.all(backends.map((backend) => backend.close()));
    }
  }, 60_000);
});

describe("chaos, more topologies (short profile, fixed seed, node kills included)", () => {
  it("Redis Cluster of 3 masters, 2 nodes with the Redis adapter", { timeout: 180_000 }, () =>
    chaos("redis-cluster"),
  );

  it("PostgreSQL, 2 nodes with the PostgreSQL adapter, the server SIGKILLed and restarted on its data", {
    timeout: 180_000,
  }, async () => {
    const result = await chaos("postgres", undefined, POSTGRES_FAULTS, POSTGRES_SEED);
    expect(
      result.verdict.figures.storeRestarts.persistent ?? 0,
      "PostgreSQL was not restarted: pick a seed whose schedule restarts it",
    ).toBeGreaterThan(0);
  });

  it("a custom store from its module: the file stores of examples/custom-store", {
    timeout: 180_000,
  }, () => {
    expect(existsSync(EXAMPLE_STORE), EXAMPLE_STORE).toBe(true);
    return chaos("custom", EXAMPLE_STORE);
  });

  it("a module without the chaos export is refused, saying what to export", async () => {
    const module = fileURLToPath(new URL("../src/chaos/profiles.ts", import.meta.url));
    await expect(loadChaosStoreModule(module)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(
        /has no chaos store export \(it exports .*shortProfile.*\)\. Add export const chaos = \{ open\(\{ directory \}\) \}/,
      ),
    });
  });
});
