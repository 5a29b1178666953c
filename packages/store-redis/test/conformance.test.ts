import { describeDedupStore, describeEventStore } from "@assured/conformance";
import { RestartableServer, useOwnServer } from "@assured/test-services";
import { RedisDedupStore, RedisEventStore } from "../src/index.js";

import { isolatedPrefix } from "./redis-fixture.js";

// A redis-server of this file's own (AOF, appendfsync always), so the crash and backend-failure
// cases can SIGKILL it and start it again on its data without touching the server other files
// share. Each case gets its own key prefix; reopen() opens another connection on the same
// prefix; the server and its data go when the file ends.
const ownRedis = useOwnServer(() => RestartableServer.redis());
const url = async () => (await ownRedis()).url;

/** A crash of the server: SIGKILL, then the same server on its AOF (every acknowledged write). */
const crash = async () => (await ownRedis()).crash();

/** The server SIGKILLed until restored: connections refused, nothing it was sent runs later. */
const breakBackend = async () => {
  const server = await ownRedis();
  await server.kill();
  return { restore: () => server.start() };
};

describeEventStore("RedisEventStore", {
  create: async ({ clock, retention }) =>
    new RedisEventStore({ redis: await url(), keyPrefix: isolatedPrefix(), clock, retention }),
  reopen: async (store, { clock, retention }) =>
    new RedisEventStore({
      redis: await url(),
      keyPrefix: (store as RedisEventStore).keyPrefix,
      clock,
      retention,
    }),
  crash,
  breakBackend,
});

describeDedupStore("RedisDedupStore", {
  create: async ({ clock }) =>
    new RedisDedupStore({ redis: await url(), keyPrefix: isolatedPrefix(), clock }),
  reopen: async (store, { clock }) =>
    new RedisDedupStore({
      redis: await url(),
      keyPrefix: (store as RedisDedupStore).keyPrefix,
      clock,
    }),
  crash,
  breakBackend,
});
