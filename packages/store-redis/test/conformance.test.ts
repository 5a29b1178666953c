import { describeDedupStore, describeEventStore } from "@assured/conformance";
import type { DedupStore, EventStore } from "@assured/core";
import type { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { RedisDedupStore, RedisEventStore } from "../src/index.js";
import { connect, deleteKeys, isolatedPrefix, redisUrl } from "./redis-fixture.js";

// Each case gets its own key prefix; reopen() opens another connection on the same prefix.
let admin: Redis;
beforeAll(() => {
  admin = connect();
});
afterAll(async () => {
  await admin.quit();
});

describeEventStore("RedisEventStore", {
  create: async ({ clock, retention }) =>
    new RedisEventStore({ redis: redisUrl(), keyPrefix: isolatedPrefix(), clock, retention }),
  reopen: async (store, { clock, retention }) =>
    new RedisEventStore({
      redis: redisUrl(),
      keyPrefix: (store as RedisEventStore).keyPrefix,
      clock,
      retention,
    }),
  destroy: (store: EventStore) => deleteKeys(admin, (store as RedisEventStore).keyPrefix),
});

describeDedupStore("RedisDedupStore", {
  create: async ({ clock }) =>
    new RedisDedupStore({ redis: redisUrl(), keyPrefix: isolatedPrefix(), clock }),
  reopen: async (store, { clock }) =>
    new RedisDedupStore({
      redis: redisUrl(),
      keyPrefix: (store as RedisDedupStore).keyPrefix,
      clock,
    }),
  destroy: (store: DedupStore) => deleteKeys(admin, (store as RedisDedupStore).keyPrefix),
});
