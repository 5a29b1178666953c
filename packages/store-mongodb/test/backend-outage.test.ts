import { encode } from "@assured/core";
import { expectUnavailable, RestartableServer, useOwnServer } from "@assured/test-services";
import type { MongoClientOptions } from "mongodb";
import { describe, expect, it } from "vitest";
import { MongoDedupStore, MongoEventStore } from "../src/index.js";
import { isolatedDatabase } from "./mongo-fixture.js";

// A FerretDB of this file's own: the tests kill and freeze it.
const ownFerretDB = useOwnServer(() => RestartableServer.ferretdb());

/** The store's default server selection timeout for a client it creates (10 s), plus slack. */
const DOWN_BOUND_MS = 13_000;

const entry = (id: string) => ({ id, name: "e", payload: encode(id) });
const claimOptions = { leaseMs: 60_000, fingerprint: "f" };
const response = { ok: true, payload: encode(1) };

/** Both stores on one new database of `url`, on clients they create (with `clientOptions`). */
function openStores(url: string, clientOptions?: MongoClientOptions) {
  const options = {
    connection: url,
    database: isolatedDatabase("outage"),
    ...(clientOptions === undefined ? {} : { clientOptions }),
  };
  return { events: new MongoEventStore(options), dedup: new MongoDedupStore(options) };
}

/** Every method of both stores (except close), each expected to reject with STORE_UNAVAILABLE. */
function everyMethod(events: MongoEventStore, dedup: MongoDedupStore, withinMs: number) {
  return Promise.all([
    expectUnavailable(events.append("s", [entry("x")]), withinMs),
    expectUnavailable(events.read("s", { after: 0, limit: 10 }), withinMs),
    expectUnavailable(events.head("s"), withinMs),
    expectUnavailable(events.reset("s"), withinMs),
    expectUnavailable(dedup.claim("k2", claimOptions), withinMs),
    expectUnavailable(dedup.complete("k", "token", response, { ttlMs: 60_000 }), withinMs),
    expectUnavailable(dedup.renew("k", "token", 60_000), withinMs),
    expectUnavailable(dedup.release("k", "token"), withinMs),
  ]);
}

describe("Mongo stores while their server is down or hung", () => {
  it("reject every call with STORE_UNAVAILABLE within the default 10 s while the server is down, then work again on the same instances", async () => {
    const server = await ownFerretDB();
    const { events, dedup } = openStores(server.url);
    try {
      const [first] = await events.append("s", [entry("a"), entry("b")]);
      const claim = await dedup.claim("k", claimOptions);
      expect(claim.status).toBe("claimed");
      await server.kill();
      await everyMethod(events, dedup, DOWN_BOUND_MS);
      await server.start();
      expect(await events.head("s")).toEqual({ epoch: first!.epoch, head: 2, earliest: 1 });
      expect(await events.append("s", [entry("c")])).toMatchObject([
        { offset: 3, duplicate: false },
      ]);
      expect(await dedup.claim("k", claimOptions)).toMatchObject({ status: "pending" });
      if (claim.status === "claimed") expect(await dedup.release("k", claim.token)).toBe(true);
    } finally {
      await Promise.all([events.close(), dedup.close()]);
    }
  }, 30_000);

  it("keep a server selection timeout set in the connection string rather than the default", async () => {
    const server = await ownFerretDB();
    await server.kill();
    const { events, dedup } = openStores(`${server.url}?serverSelectionTimeoutMS=500`);
    try {
      await Promise.all([
        expectUnavailable(events.head("s"), 3_000),
        expectUnavailable(dedup.claim("k", claimOptions), 3_000),
      ]);
    } finally {
      await Promise.all([events.close(), dedup.close()]);
    }
  });

  it("reject every call, and close, in bounded time while the server hangs (SIGSTOP), then work again", async () => {
    const server = await ownFerretDB();
    // Short driver timeouts keep the test short; the defaults bound it the same way at 10 s.
    const { events, dedup } = openStores(server.url, {
      serverSelectionTimeoutMS: 1_000,
      connectTimeoutMS: 1_000,
      heartbeatFrequencyMS: 500,
    });
    const closing = openStores(server.url, { connectTimeoutMS: 1_000 });
    try {
      await events.append("s", [entry("a")]);
      await dedup.claim("k", claimOptions);
      await closing.events.head("s");
      server.pause();
      await Promise.all([
        everyMethod(events, dedup, 8_000),
        expect(closing.events.close()).resolves.toBeUndefined(),
      ]);
      server.resume();
      // The frozen server still runs what it was sent: the outcome of a call that failed is
      // unknown, so only check that both stores answer again.
      expect(await dedup.claim("k3", claimOptions)).toMatchObject({ status: "claimed" });
      expect(await events.append("s", [entry("z")])).toMatchObject([{ duplicate: false }]);
    } finally {
      server.resume();
      await Promise.all([events.close(), dedup.close(), closing.dedup.close()]);
    }
  }, 30_000);
});
