import type { SubscriptionEnded } from "@assured/client";
import { describe, expect, it } from "vitest";
import { closeAfterEach, once, type TestClient, TestServer, testClient } from "./harness.js";

let server: TestServer | undefined;
const track = closeAfterEach(() => server);

/** A client subscribed to `streams` from the start, recording the subscriptions the server ends. */
async function subscribedClient(
  url: string,
  streams: string[],
): Promise<TestClient & { ended: SubscriptionEnded[] }> {
  const c = track(testClient(url));
  const ended: SubscriptionEnded[] = [];
  c.client.onUnsubscribed((e) => {
    ended.push(e);
    c.waiter.poke();
  });
  for (const stream of streams) c.client.subscribe(stream, { from: "earliest" });
  await c.client.connect();
  await c.waiter.until(() => c.outcomes.length === streams.length, "the subscriptions");
  return Object.assign(c, { ended });
}

/** Drops the client's transport (as a network loss does) and resolves once it is connected again. */
async function reconnect(c: TestClient): Promise<void> {
  const connected = once(c.socket, "connect");
  c.socket.io.engine.close();
  await connected;
}

describe("subscriptions the server ends reach the application", () => {
  it("assured.unsubscribe of a stream the client subscribed: onUnsubscribed (server), forgotten, not subscribed again after a reconnect", async () => {
    server = await new TestServer().start();
    await server.publishMany("room:1", 1, 2);
    await server.publishMany("room:2", 1, 1);
    const c = await subscribedClient(server.url, ["room:1", "room:2"]);
    await c.ticks("room:1", 2);
    const [socket] = await server.io.fetchSockets();
    server.assured.unsubscribe(
      socket as unknown as Parameters<typeof server.assured.unsubscribe>[0],
      "room:1",
    );
    await c.waiter.until(() => c.ended.length === 1, "the end of room:1");
    expect(c.ended).toEqual([{ stream: "room:1", reason: "server" }]);
    expect(c.client.position("room:1")).toBeNull();
    expect(c.client.position("room:2")?.offset).toBe(1);

    await reconnect(c);
    // room:1's events are published first: had the handshake subscribed it again (from its
    // head, with no stored position), they would arrive; room:2's show that delivery runs.
    await server.publishMany("room:1", 3, 2);
    await server.publishMany("room:2", 2, 2);
    expect(await c.ticks("room:2", 3)).toEqual([1, 2, 3]);
    expect(c.seen.get("room:1")).toEqual([1, 2]);
    expect(c.ended).toHaveLength(1);
    expect(c.errors).toEqual([]);
  });

  it("a revoked stream found by the next subscription after a reconnect: onUnsubscribed (unauthorized) and UNAUTHORIZED, then forgotten", async () => {
    const allowed = new Set(["room:1", "room:2"]);
    server = await new TestServer().start({ authorize: (_socket, stream) => allowed.has(stream) });
    await server.publishMany("room:1", 1, 1);
    await server.publishMany("room:2", 1, 1);
    const c = await subscribedClient(server.url, ["room:1", "room:2"]);
    await c.ticks("room:1", 1);
    allowed.delete("room:1");
    await reconnect(c);
    await c.waiter.until(() => c.ended.length === 1, "the end of room:1");
    expect(c.ended).toEqual([{ stream: "room:1", reason: "unauthorized" }]);
    expect(c.errors.map((e) => (e as { code?: string }).code)).toEqual(["UNAUTHORIZED"]);
    expect(c.client.position("room:1")).toBeNull();

    // Allowed again, it is still not subscribed: the client forgot it.
    allowed.add("room:1");
    await reconnect(c);
    await server.publishMany("room:1", 2, 1);
    await server.publishMany("room:2", 2, 1);
    expect(await c.ticks("room:2", 2)).toEqual([1, 2]);
    expect(c.seen.get("room:1")).toEqual([1]);
    expect(c.ended).toHaveLength(1);
  });

  it("a revocation found by a fetch mid-connection: onUnsubscribed (unauthorized), the stream forgotten", async () => {
    let reads = true;
    server = await new TestServer().start({
      authorize: (_socket, _stream, action) => action !== "fetch" || reads,
      // The subscription's first page holds one event: the rest must be fetched.
      limits: { fetchLimit: 1 },
    });
    await server.publishMany("room:1", 1, 1);
    const c = await subscribedClient(server.url, ["room:1"]);
    await c.ticks("room:1", 1);
    reads = false;
    // Events the client misses while disconnected are fetched after the reconnect (all but the
    // first page's one): refused. It stays away until they are published.
    c.socket.disconnect();
    await server.publishMany("room:1", 2, 3);
    const connected = once(c.socket, "connect");
    c.socket.connect();
    await connected;
    await c.waiter.until(() => c.ended.length === 1, "the end of room:1");
    expect(c.ended).toEqual([{ stream: "room:1", reason: "unauthorized" }]);
    expect(c.client.position("room:1")).toBeNull();
  });
});
