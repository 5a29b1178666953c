import { type AssuredError, encode } from "@assured/core";
import { afterEach, describe, expect, it } from "vitest";
import { type TestClient, TestServer, testClient } from "./harness.js";

const S = "room:bombs";
let server: TestServer;
const clients: TestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.client.close();
  await server?.stop();
});

/** ~100 bytes of nested `array32` headers: decoded naively, they allocate gigabytes. */
const CRASH_PAYLOAD = Uint8Array.from(
  Array.from({ length: 20 }, () => [0xdd, 0x01, 0xff, 0xff, 0xff]).flat(),
);

describe("G11/G12 on the client: an event payload cannot make it allocate more than it carries", () => {
  it("reports a container-header bomb from the store as CODEC_ERROR and stays up", async () => {
    server = await new TestServer().start();
    // A store restored from a hostile backup, or a publisher that wrote raw bytes.
    await server.store.append(S, [
      { name: "tick", payload: encode({ n: 1 }) },
      { name: "tick", payload: CRASH_PAYLOAD },
    ]);
    const c = testClient(server.url);
    clients.push(c);
    c.client.subscribe(S, { from: "earliest" });
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    await c.client.connect();
    const error = (await c.waiter.until(
      () => c.errors.find((e) => (e as AssuredError).code === "CODEC_ERROR"),
      "a CODEC_ERROR",
    )) as AssuredError;
    expect(error.details).toMatchObject({ stream: S, offset: 2 });
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
    expect(await c.ticks(S, 1)).toEqual([1]);
  });
});
