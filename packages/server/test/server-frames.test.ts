import {
  FRAMES,
  type HelloFrame,
  type SubscribedFrame,
  type SubscribeErrorFrame,
  type UnsubscribedFrame,
} from "@assured/core/protocol";
import type { Socket } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import { assuredAuth, type Peer, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const sub = (stream: string) => ({ stream, position: null, from: "head" });

/** The server side of a raw peer's connection. */
function serverSocket(started: Started, peer: Peer): Socket {
  const socket = started.io.sockets.sockets.get(peer.socket.id ?? "");
  if (socket === undefined) throw new Error("no server socket for this peer");
  return socket;
}

describe("assured:hello", () => {
  it("is sent once when Assured binds a socket, with the server's dedup window", async () => {
    server = await startAssured({ limits: { dedupTtlMs: 123_456 } });
    const peer = await server.connect(assuredAuth([sub("s")]));
    expect(await peer.next<HelloFrame>(FRAMES.hello)).toEqual({ v: 2, dedupTtlMs: 123_456 });
    await peer.next(FRAMES.subscribed);
    // A server-initiated subscribe binds the socket again: no second hello.
    await server.assured.subscribe(serverSocket(server, peer), "t");
    await peer.roundTrip();
    expect(peer.frames(FRAMES.hello)).toHaveLength(1);
    // Before anything else Assured sends.
    expect(peer.summary()[0]).toBe(FRAMES.hello);
  });

  it("is sent to a socket without Assured handshake fields too", async () => {
    server = await startAssured();
    const peer = await server.connect();
    expect(await peer.next<HelloFrame>(FRAMES.hello)).toEqual({
      v: 2,
      dedupTtlMs: 24 * 60 * 60 * 1000,
    });
  });
});

describe("assured:unsubscribed: the server tells the client when it ends a subscription", () => {
  it("assured.unsubscribe ends the subscription and sends reason server; nothing for a stream it does not hold", async () => {
    server = await startAssured();
    const peer = await server.connect(assuredAuth([sub("s")]));
    await peer.next(FRAMES.subscribed);
    const socket = serverSocket(server, peer);
    server.assured.unsubscribe(socket, "s");
    expect(await peer.next<UnsubscribedFrame>(FRAMES.unsubscribed)).toEqual({
      stream: "s",
      reason: "server",
    });
    server.assured.unsubscribe(socket, "s");
    server.assured.unsubscribe(socket, "never");
    await server.assured.publish("s", "e", 1);
    await peer.roundTrip();
    expect(peer.frames(FRAMES.unsubscribed)).toHaveLength(1);
    expect(peer.offsets("s")).toEqual([]);
  });

  it("a client-sent assured:unsub gets no answer", async () => {
    server = await startAssured();
    const peer = await server.connect(assuredAuth([sub("s")]));
    await peer.next(FRAMES.subscribed);
    peer.socket.emit(FRAMES.unsubscribe, { stream: "s" });
    await peer.roundTrip();
    await server.assured.publish("s", "e", 1);
    await peer.roundTrip();
    expect(peer.frames(FRAMES.unsubscribed)).toEqual([]);
    expect(peer.offsets("s")).toEqual([]);
  });

  it("a re-subscription refused by authorize ends the held subscription (reason unauthorized), without a sub-error", async () => {
    let allow = true;
    server = await startAssured({ authorize: () => allow });
    const peer = await server.connect(assuredAuth([sub("s")]));
    await peer.next(FRAMES.subscribed);
    allow = false;
    peer.socket.emit(FRAMES.subscribe, sub("s"));
    expect(await peer.next<UnsubscribedFrame>(FRAMES.unsubscribed)).toEqual({
      stream: "s",
      reason: "unauthorized",
    });
    await server.assured.publish("s", "e", 1);
    await peer.roundTrip();
    expect(peer.frames(FRAMES.subscribeError)).toEqual([]);
    expect(peer.offsets("s")).toEqual([]);
  });

  it("a refused first subscription still gets the sub-error UNAUTHORIZED and no unsubscribed", async () => {
    server = await startAssured({ authorize: () => false });
    const peer = await server.connect(assuredAuth([sub("s")]));
    expect(await peer.next<SubscribeErrorFrame>(FRAMES.subscribeError)).toMatchObject({
      stream: "s",
      error: { code: "UNAUTHORIZED" },
    });
    peer.socket.emit(FRAMES.subscribe, sub("s"));
    await peer.until(() => peer.frames(FRAMES.subscribeError).length === 2);
    await peer.roundTrip();
    expect(peer.frames(FRAMES.unsubscribed)).toEqual([]);
  });

  it("a fetch refused by authorize ends the subscription to that stream (reason unauthorized)", async () => {
    let allow = true;
    server = await startAssured({ authorize: () => allow });
    const peer = await server.connect(assuredAuth([sub("s")]));
    const { epoch } = await peer.next<SubscribedFrame>(FRAMES.subscribed);
    allow = false;
    const reply = await peer.request(FRAMES.fetch, { stream: "s", epoch, after: 0, limit: 10 });
    expect(reply).toEqual({ ok: false, error: expect.objectContaining({ code: "UNAUTHORIZED" }) });
    expect(await peer.next<UnsubscribedFrame>(FRAMES.unsubscribed)).toEqual({
      stream: "s",
      reason: "unauthorized",
    });
    await server.assured.publish("s", "e", 1);
    await peer.roundTrip();
    expect(peer.offsets("s")).toEqual([]);
  });

  it("a heads request refused by authorize ends the subscriptions it left out, and only those", async () => {
    let denied = "";
    server = await startAssured({ authorize: (_socket, stream) => stream !== denied });
    const peer = await server.connect(assuredAuth([sub("a"), sub("b")]));
    await peer.until(() => peer.frames(FRAMES.subscribed).length === 2);
    denied = "a";
    const reply = await peer.request<{ ok: boolean; heads: Record<string, unknown> }>(
      FRAMES.heads,
      { streams: ["a", "b", "c"] },
    );
    expect(Object.keys(reply.heads).sort()).toEqual(["b", "c"]);
    await peer.roundTrip();
    expect(peer.frames(FRAMES.unsubscribed)).toEqual([{ stream: "a", reason: "unauthorized" }]);
    await server.assured.publish("a", "e", 1);
    await server.assured.publish("b", "e", 1);
    await peer.until(() => peer.offsets("b").length === 1);
    await peer.roundTrip();
    expect(peer.offsets("a")).toEqual([]);
  });
});

describe("a server-initiated subscribe racing the server's close", () => {
  it("rejects with CLOSED instead of throwing, so io.on('connection') code with .catch() never crashes the process", async () => {
    server = await startAssured();
    const peer = await server.connect(assuredAuth([]));
    const socket = serverSocket(server, peer);
    await server.assured.close();
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = server!.assured.subscribe(socket, "s");
    }).not.toThrow();
    await expect(result).rejects.toMatchObject({ code: "CLOSED" });
  });
});
