import { type ClientStorage, memoryStorage } from "@assured/core/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { range, type TestClient, TestServer, testClient } from "./harness.js";

const S = "room:1";
let server: TestServer;
let c: TestClient | undefined;

afterEach(async () => {
  await c?.client.close();
  c = undefined;
  await server?.stop();
});

/** A real memory storage whose position writes wait until released (a slow disk or IndexedDB). */
function slowPositionStorage() {
  const inner = memoryStorage();
  const held: (() => void)[] = [];
  let holding = true;
  const positionWrites: string[] = [];
  const storage: ClientStorage = {
    get: (key) => inner.get(key),
    remove: (key) => inner.remove(key),
    set: async (key, value) => {
      if (key.includes("pos:")) {
        positionWrites.push(value);
        if (holding) await new Promise<void>((resolve) => held.push(resolve));
      }
      await inner.set(key, value);
    },
  };
  const release = () => {
    holding = false;
    for (const go of held.splice(0)) go();
  };
  return { storage, inner, positionWrites, release };
}

describe("position storage", () => {
  it("G11: while storage is slow, position writes of a stream coalesce instead of queueing one per event; the last one is stored", async () => {
    server = await new TestServer().start();
    const slow = slowPositionStorage();
    c = testClient(server.url, { storage: slow.storage });
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    await c.waiter.until(() => c?.outcomes.length === 1, "outcome");
    await server.publishMany(S, 1, 100);
    expect(await c.ticks(S, 100)).toEqual(range(1, 100));
    // One write is stuck in the storage; the 100 positions behind it collapsed into one.
    slow.release();
    await c.client.close();
    expect(slow.positionWrites.length).toBeLessThanOrEqual(3);
    expect(JSON.parse((await slow.inner.get(`assured:pos:${S}`))!)).toMatchObject({ offset: 100 });
  });

  it("close() does not hang on a storage that never answers: it waits at most ackTimeoutMs", async () => {
    server = await new TestServer().start();
    const slow = slowPositionStorage(); // never released
    c = testClient(server.url, { storage: slow.storage, ackTimeoutMs: 100 });
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    await c.waiter.until(() => c?.outcomes.length === 1, "outcome");
    await server.publishMany(S, 1, 1);
    await c.ticks(S, 1);
    const began = Date.now();
    await c.client.close();
    expect(Date.now() - began).toBeLessThan(2_000);
    slow.release();
  });
});
