import { encode } from "@assured/core";
import { expectUnavailable, RestartableServer, useOwnServer } from "@assured/test-services";
import { describe, expect, it } from "vitest";
import { RedisDedupStore, RedisEventStore } from "../src/index.js";

import { isolatedPrefix } from "./redis-fixture.js";

// A redis-server of this file's own: the tests kill and freeze it.
const ownRedis = useOwnServer(() => RestartableServer.redis());

/** ioredis gives a command up after two failed reconnections, at most 2 s apart. */
const DOWN_BOUND_MS = 8_000;
/** The default command timeout of a client the store creates (10 s), plus slack. */
const HUNG_BOUND_MS = 13_000;

const entry = (id: string) => ({ id, name: "e", payload: encode(id) });
const claimOptions = { leaseMs: 60_000, fingerprint: "f" };
const response = { ok: true, payload: encode(1) };

/** Every method of both stores (except close), each expected to reject with STORE_UNAVAILABLE. */
function everyMethod(events: RedisEventStore, dedup: RedisDedupStore, withinMs: number) {
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

describe("Redis stores while their server is down or hung", () => {
  it("reject every call with STORE_UNAVAILABLE while the server is down, then work again on the same instances", async () => {
    const server = await ownRedis();
    const keyPrefix = isolatedPrefix();
    const events = new RedisEventStore({ redis: server.url, keyPrefix });
    const dedup = new RedisDedupStore({ redis: server.url, keyPrefix });
    try {
      const [first] = await events.append("s", [entry("a"), entry("b")]);
      const claim = await dedup.claim("k", claimOptions);
      expect(claim.status).toBe("claimed");
      await server.kill();
      await everyMethod(events, dedup, DOWN_BOUND_MS);
      await server.start();
      expect(await events.head("s")).toEqual({ epoch: first!.epoch, head: 2, earliest: 1 });
      const [next] = await events.append("s", [entry("c")]);
      expect(next).toMatchObject({ offset: 3, duplicate: false });
      expect(await dedup.claim("k", claimOptions)).toMatchObject({ status: "pending" });
      if (claim.status === "claimed") expect(await dedup.release("k", claim.token)).toBe(true);
    } finally {
      await Promise.all([events.close(), dedup.close()]);
    }
  });

  it("give a call up after the default command timeout while the server hangs (SIGSTOP), and close", async () => {
    const server = await ownRedis();
    const keyPrefix = isolatedPrefix();
    const events = new RedisEventStore({ redis: server.url, keyPrefix });
    const closing = new RedisEventStore({ redis: server.url, keyPrefix });
    try {
      await events.append("s", [entry("a")]);
      await closing.head("s");
      server.pause();
      await Promise.all([
        expectUnavailable(events.head("s"), HUNG_BOUND_MS),
        expectUnavailable(events.append("s", [entry("b")]), HUNG_BOUND_MS),
        expect(closing.close()).resolves.toBeUndefined(),
      ]);
      server.resume();
      expect((await events.head("s")).head).toBeGreaterThanOrEqual(1);
    } finally {
      server.resume();
      await Promise.all([events.close(), closing.close()]);
    }
  });

  it("reject every call within the command timeout given in the client options while the server hangs, then work again", async () => {
    const server = await ownRedis();
    const { port } = new URL(server.url);
    // A reset first waits for the store's pending appends: up to two timeouts.
    const redis = { host: "127.0.0.1", port: Number(port), commandTimeout: 500 };
    const keyPrefix = isolatedPrefix();
    const events = new RedisEventStore({ redis, keyPrefix });
    const dedup = new RedisDedupStore({ redis, keyPrefix });
    try {
      await events.append("s", [entry("a")]);
      await dedup.claim("k", claimOptions);
      server.pause();
      await everyMethod(events, dedup, 3_000);
      server.resume();
      // The frozen server still runs what it was sent (the reset too): the outcome of a call
      // that timed out is unknown, so only check that both stores answer again.
      expect(await dedup.claim("k3", claimOptions)).toMatchObject({ status: "claimed" });
      expect(await events.append("s", [entry("z")])).toMatchObject([{ duplicate: false }]);
    } finally {
      server.resume();
      await Promise.all([events.close(), dedup.close()]);
    }
  });
});
