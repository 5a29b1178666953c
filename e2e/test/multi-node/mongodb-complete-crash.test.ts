import { newId } from "@assured/core/store";
import {
  type CutProxy,
  freePort,
  type RunningFerretDB,
  startCutProxy,
  startFerretDB,
} from "@assured/test-services";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MongoHandledLog } from "../../src/multi-node/handled-log.js";
import type { MongoNodeConfig } from "../../src/multi-node/node-config.js";
import { NodeProcess } from "../../src/multi-node/node-process.js";
import { TrackedClient } from "../../src/multi-node/tracked-client.js";
import { waitFor } from "../../src/multi-node/wait-for.js";

const LEASE_MS = 1_500;

let ferret: RunningFerretDB | undefined;
let watcher: MongoClient | undefined;
/** Unique per run, so a shared MONGODB_URL is safe. */
const database = `e2e_complete_crash_${newId().replace(/[^A-Za-z0-9]/g, "")}`;
const nodes: NodeProcess[] = [];
let wire: CutProxy | undefined;
let client: TrackedClient | undefined;

beforeAll(async () => {
  ferret = await startFerretDB();
  watcher = new MongoClient(ferret.url, { serverSelectionTimeoutMS: 5_000 });
});

afterAll(async () => {
  await client?.close();
  await Promise.allSettled(nodes.map((n) => n.stop()));
  await wire?.close();
  await watcher?.close();
  await ferret?.stop();
});

describe("Mongo-wire (FerretDB): a node SIGKILLed while it stores a message's answer", () => {
  it("G9: the message whose answer was half stored runs again after the lease, and the messages behind it follow, in order", {
    timeout: 60_000,
  }, async () => {
    const mongodbUrl = ferret!.url;
    const port = await freePort();
    const config = (name: string, url: string): MongoNodeConfig => ({
      store: "mongodb",
      mongodbUrl: url,
      database,
      name,
      port,
      leaseMs: LEASE_MS,
    });
    // Node A reaches FerretDB through a proxy that lets the first transition lock of a dedup
    // entry through (`complete` takes it before it writes the answer) and nothing after it.
    wire = await startCutProxy(mongodbUrl, ["assured_locks", "token:"]);
    const nodeA = await NodeProcess.start(config("A", wire.url));
    nodes.push(nodeA);
    const c = new TrackedClient({ name: "c", url: nodeA.url, stream: "feed:complete-crash" });
    client = c;
    await c.connect();
    await waitFor(() => c.outcomes.length === 1, 10_000, "the client subscribed");

    const crashed = c.record(1);
    const behind = [c.record(2), c.record(3)];
    await wire.cut;
    const locks = watcher!.db(database).collection("assured_locks");
    await waitFor(async () => (await locks.countDocuments()) > 0, 10_000, "A's transition lock");
    await nodeA.kill();

    // B, on the same port and database, straight to FerretDB. The client resends; B must take
    // over A's expired lease although A died holding the lock of its way out of it.
    nodes.push(await NodeProcess.start(config("B", mongodbUrl)));
    await waitFor(
      () => c.drained(),
      30_000,
      () => `answers; ${c.answers.size}/${c.sent.size}`,
    );

    expect(c.failures.size).toBe(0);
    expect(c.answers.get(crashed)).toEqual({ node: "B", client: "c", n: 1 });
    expect(behind.map((id) => c.answers.get(id))).toEqual([
      { node: "B", client: "c", n: 2 },
      { node: "B", client: "c", n: 3 },
    ]);
    // Runs on A: the first (its answer never stored), then perhaps the ones behind it, in send
    // order (A runs a socket's next messages while earlier answers are being stored, up to
    // limits.maxUnstoredResponses; none of their answers was stored or sent either). Then all
    // three once more on B, once each, in send order.
    const entries = await new MongoHandledLog(watcher!.db(database)).entries();
    const runsOn = (node: string) => entries.filter((e) => e.node === node).map((e) => e.id);
    const order = [crashed, ...behind];
    const onA = runsOn("A");
    expect(onA.length).toBeGreaterThanOrEqual(1);
    expect(onA).toEqual(order.slice(0, onA.length));
    expect(runsOn("B")).toEqual(order);
    expect(entries.findIndex((e) => e.node === "B")).toBe(onA.length);
    expect(c.errors).toEqual([]);
  });
});
