import { createAssuredClient } from "@assured/client";
import { afterEach, describe, expect, it } from "vitest";
import {
  eventually,
  once,
  type TestClient,
  TestServer,
  testClient,
  testSocket,
  Waiter,
} from "./harness.js";

let server: TestServer;
let c: TestClient | undefined;

afterEach(async () => {
  await c?.client.close();
  c = undefined;
  await server?.stop();
});

describe("handshake", () => {
  it("carries the application's own auth next to auth.assured, at every connect", async () => {
    server = await new TestServer().start();
    const seen: Record<string, unknown>[] = [];
    server.io.use((socket, next) => {
      seen.push(socket.handshake.auth);
      next();
    });
    const socket = testSocket(server.url);
    let token = 0;
    socket.auth = (cb) => cb({ token: `t${++token}` });
    const client = createAssuredClient(socket);
    c = { client } as TestClient;
    client.subscribe("room:1");
    await client.connect();
    await once(socket, "connect");
    socket.disconnect();
    const again = once(socket, "connect");
    socket.connect();
    await again;
    expect(seen.map((a) => a.token)).toEqual(["t1", "t2"]);
    const assured = seen[1]?.assured as { v: number; clientId: string; subscriptions: unknown[] };
    expect(assured.v).toBe(2);
    expect(assured.clientId).toBe(client.clientId);
    expect(assured.subscriptions).toEqual([
      { stream: "room:1", position: { epoch: expect.any(String), offset: 0 }, from: "head" },
    ]);
  });

  it("G12: a server speaking protocol v1 (no version in its hello) is reported as PROTOCOL_VERSION", async () => {
    // A bare Socket.IO server that greets like a v1 Assured server and refuses the v2 handshake.
    server = await new TestServer().start();
    server.io.use((socket, next) => {
      socket.emit("assured:hello", { dedupTtlMs: 1000 });
      next();
    });
    server.io.on("connection", (socket) => {
      // What a v1 server answers a handshake of another version.
      socket.emit("assured:error", { code: "BAD_FRAME", message: "auth.assured.v must be 1" });
    });
    await server.assured.close();
    const socket = testSocket(server.url);
    const client = createAssuredClient(socket);
    const errors: { code: string; message: string; details?: unknown }[] = [];
    client.onError((e) => errors.push(e as never));
    c = { client } as TestClient;
    await client.connect();
    await eventually(() => errors.some((e) => e.code === "PROTOCOL_VERSION"), "the error");
    const error = errors.find((e) => e.code === "PROTOCOL_VERSION")!;
    expect(error.message).toMatch(
      /server speaks Assured protocol version 1.*upgrade @assured\/server/,
    );
    expect(error.details).toEqual({ version: 2, peerVersion: 1 });
  });

  it("G5: a stream subscribed after the handshake was built is subscribed once connected", async () => {
    server = await new TestServer().start();
    const socket = testSocket(server.url);
    let release: (() => void) | undefined;
    let asked!: () => void;
    const authAsked = new Promise<void>((resolve) => {
      asked = resolve;
    });
    socket.auth = (cb) => {
      release = () => cb({});
      asked();
    };
    const client = createAssuredClient(socket);
    const seen: number[] = [];
    const waiter = new Waiter();
    client.on<{ n: number }>("tick", ({ n }) => {
      seen.push(n);
      waiter.poke();
    });
    c = { client } as TestClient;
    await client.connect();
    await authAsked;
    const connected = once(socket, "connect");
    release?.(); // the handshake is built now, without "late"
    client.subscribe("late", { from: "earliest" });
    await connected;
    await server.publishMany("late", 1, 2);
    expect(await waiter.until(() => seen.length === 2 && seen, "2 ticks")).toEqual([1, 2]);
  });

  it("G6: a server-initiated subscription is tracked and recovered like the client's own", async () => {
    server = await new TestServer().start();
    server.io.on("connection", (socket) => {
      void server.assured.subscribe(socket, "inbox:me").catch(() => undefined);
    });
    c = testClient(server.url);
    await c.client.connect();
    await c.waiter.until(() => c?.outcomes.length === 1, "outcome");
    await server.publishMany("inbox:me", 1, 2);
    expect(await c.ticks("inbox:me", 2)).toEqual([1, 2]);
    c.socket.disconnect();
    await server.publishMany("inbox:me", 3, 1);
    c.socket.connect();
    expect(await c.ticks("inbox:me", 3)).toEqual([1, 2, 3]);
  });

  it("G12: a socket that is already connecting is refused; use autoConnect: false", async () => {
    server = await new TestServer().start();
    const socket = testSocket(server.url);
    socket.connect();
    expect(() => createAssuredClient(socket)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    socket.disconnect();
  });

  it("G12: a refused subscription is reported through onError with its stream", async () => {
    server = await new TestServer().start({ authorize: (_socket, stream) => stream !== "secret" });
    c = testClient(server.url);
    c.client.subscribe("secret");
    await c.client.connect();
    const error = await c.waiter.until(() => c?.errors[0], "sub-error");
    expect(error).toMatchObject({ code: "UNAUTHORIZED", details: { stream: "secret" } });
  });
});
