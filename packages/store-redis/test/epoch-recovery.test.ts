import { encode, isAssuredError } from "@assured/core";
import { type RunningService, startRedis } from "@assured/test-services";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisEventStore } from "../src/index.js";

// These cases wipe and restart Redis, so they run against a redis-server of their own.
let server: RunningService;
let port: number;
let client: Redis;
let store: RedisEventStore;

beforeAll(async () => {
  server = await startRedis();
  port = Number(new URL(server.url).port);
  client = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 20 });
  client.on("error", () => {});
  store = new RedisEventStore({ redis: client });
});

afterAll(async () => {
  await store.close();
  client.disconnect();
  await server.stop();
});

const event = (text: string) => ({ id: text, name: "message", payload: encode(text) });

function ready(redis: Redis): Promise<void> {
  return redis.status === "ready" ? Promise.resolve() : new Promise((r) => redis.once("ready", r));
}

describe("epochs when Redis loses the data", () => {
  it("FLUSHALL: head() reports epoch '' and the next append starts a new epoch at offset 1", async () => {
    const [before] = await store.append("room", [event("a"), event("b")]);
    await client.flushall();
    expect(await store.head("room")).toEqual({ epoch: "", head: 0, earliest: 1 });
    const [after] = await store.append("room", [event("a")]);
    expect(after).toMatchObject({ offset: 1, duplicate: false });
    expect(after?.epoch).not.toBe("");
    expect(after?.epoch).not.toBe(before?.epoch);
    expect(await store.head("room")).toEqual({ epoch: after?.epoch, head: 1, earliest: 1 });
  });

  it("restart without persistence: unavailable while down, then a new epoch", async () => {
    const [before] = await store.append("inbox", [event("x")]);
    await server.stop();
    const down = await store.append("inbox", [event("y")]).catch((error: unknown) => error);
    expect(isAssuredError(down, "STORE_UNAVAILABLE")).toBe(true);

    server = await startRedis({ port });
    await ready(client);
    // The restarted server has no scripts cached either: EVALSHA falls back to EVAL.
    expect(await store.head("inbox")).toEqual({ epoch: "", head: 0, earliest: 1 });
    const [after] = await store.append("inbox", [event("x")]);
    expect(after).toMatchObject({ offset: 1, duplicate: false });
    expect(after?.epoch).not.toBe(before?.epoch);
  });
});
