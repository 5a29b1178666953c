import { newId } from "@assured/core/store";
import { freePort, type RunningFerretDB, startFerretDB } from "@assured/test-services";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientFleet } from "../../src/multi-node/client-fleet.js";
import { FailoverProxy } from "../../src/multi-node/failover-proxy.js";
import { MongoHandledLog, runsPerMessage } from "../../src/multi-node/handled-log.js";
import type { MongoNodeConfig } from "../../src/multi-node/node-config.js";
import { NodeProcess } from "../../src/multi-node/node-process.js";
import { StreamPublisher } from "../../src/multi-node/stream-publisher.js";
import { waitFor } from "../../src/multi-node/wait-for.js";

const CLIENTS = 3;
const STREAM = "feed:mongodb";

let ferret: RunningFerretDB | undefined;
let mongodbUrl: string;
/** Unique per run, so a shared MONGODB_URL is safe. */
const database = `e2e_mongodb_recovery_${newId().replace(/[^A-Za-z0-9]/g, "")}`;
let watcher: MongoClient | undefined;
const lives: NodeProcess[] = [];
let proxy: FailoverProxy | undefined;
let fleet: ClientFleet | undefined;

beforeAll(async () => {
  if (process.env.MONGODB_URL) {
    mongodbUrl = process.env.MONGODB_URL;
  } else {
    ferret = await startFerretDB();
    mongodbUrl = ferret.url;
  }
  watcher = new MongoClient(mongodbUrl, { serverSelectionTimeoutMS: 5_000 });
});

afterAll(async () => {
  await fleet?.close();
  await proxy?.close();
  await Promise.allSettled(lives.map((n) => n.stop()));
  if (watcher && process.env.MONGODB_URL) await watcher.db(database).dropDatabase();
  await watcher?.close();
  await ferret?.stop();
});

describe("MongoDB stores: a server SIGKILLed and restarted on the same database", () => {
  it("G2/G3/G5/G9: clients recover with recovered: true, nothing lost or duplicated, and their outboxes drain once", {
    timeout: 30_000,
  }, async () => {
    const port = await freePort();
    const config = (name: string): MongoNodeConfig => ({
      store: "mongodb",
      mongodbUrl,
      database,
      name,
      port,
    });
    lives.push(await NodeProcess.start(config("first")));
    const first = lives[0]!;
    // The clients reach the server through a proxy we control, to cut off its answers (below).
    proxy = await FailoverProxy.start([port]);
    const lb = proxy;
    fleet = new ClientFleet(CLIENTS, lb.url, STREAM);
    const { clients } = fleet;
    await fleet.connect();
    const publisher = new StreamPublisher(STREAM);
    const head = () => publisher.head();

    // 1. Live: events and messages flow.
    const liveIds: string[] = [];
    for (let round = 0; round < 4; round++) {
      await publisher.publishBatch(first);
      fleet.sendRound(liveIds);
    }
    await fleet.caughtUp(head, "live events and answers");

    // 2. The server's answers and events stop reaching the clients; it handles these
    //    messages and stores their answers, then it is SIGKILLed: the answers are lost.
    lb.freeze();
    const beforeCrashIds: string[] = [];
    for (let round = 0; round < 3; round++) {
      fleet.sendRound(beforeCrashIds);
      await publisher.publishBatch(first);
    }
    await waitFor(
      () => {
        const held = lb.heldText();
        return beforeCrashIds.every((id) => held.includes(id));
      },
      10_000,
      "the server's answers to every message",
    );
    await first.kill();

    // 3. While the server is down the clients keep sending (into their outboxes).
    const whileDownIds: string[] = [];
    for (let round = 0; round < 3; round++) fleet.sendRound(whileDownIds);

    // 4. A new process on the same database and port; the clients reconnect and recover.
    lives.push(await NodeProcess.start(config("second")));
    const second = lives[1]!;
    await fleet.subscribed(2, "every client resubscribed");
    for (let round = 0; round < 3; round++) await publisher.publishBatch(second);
    await fleet.caughtUp(head, "every event and every answer");

    // Delivery: per client, exactly the published offsets, in order, once, with their data.
    expect(publisher.epochs()).toHaveLength(1);
    const expected = publisher.inEpoch();
    expect(expected.map((e) => e.offset)).toEqual(expected.map((_, i) => i + 1));
    for (const c of clients) {
      expect(c.offsets()).toEqual(expected.map((e) => e.offset));
      expect(c.deliveries.map((d) => d.data)).toEqual(expected.map((e) => e.data));
      expect(c.outcomes.map((o) => o.recovered)).toEqual([true, true]);
      expect(c.outcomes[1]!.position.epoch).toBe(publisher.epochs()[0]);
      expect(c.errors).toEqual([]);
      expect(c.failures.size).toBe(0);
    }

    // Messages: each handler ran exactly once, by the process whose answer the client got.
    const answers = new Map(clients.flatMap((c) => [...c.answers]));
    const answeredBy = (ids: string[]) => new Set(ids.map((id) => answers.get(id)?.node));
    expect(answeredBy(liveIds)).toEqual(new Set(["first"]));
    // Resent after the restart and answered with what the first process stored.
    expect(answeredBy(beforeCrashIds)).toEqual(new Set(["first"]));
    expect(answeredBy(whileDownIds)).toEqual(new Set(["second"]));
    const entries = await new MongoHandledLog(watcher!.db(database)).entries();
    const runs = runsPerMessage(entries);
    const allIds = [...liveIds, ...beforeCrashIds, ...whileDownIds];
    expect(runs.size).toBe(allIds.length);
    for (const id of allIds) expect(runs.get(id), id).toBe(1);
    for (const entry of entries) expect(entry.node).toBe(answers.get(entry.id)?.node);
  });
});
