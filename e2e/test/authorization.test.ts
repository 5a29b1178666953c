import type { ServerOptions } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import { nextEvent } from "../src/next-event.js";
import { RecordingClient } from "../src/recording-client.js";
import { type RunningSocketServer, startSocketServer } from "../src/socket-server.js";

let server: RunningSocketServer | undefined;
let client: RecordingClient | undefined;

afterEach(async () => {
  await client?.close();
  await server?.close();
  client = undefined;
  server = undefined;
});

const variants: [string, Partial<ServerOptions>][] = [
  ["a new session", {}],
  [
    "a session restored by Socket.IO's connection state recovery",
    { connectionStateRecovery: { maxDisconnectionDuration: 60_000 } },
  ],
];

describe("authorization at every reconnect", () => {
  for (const [session, serverOptions] of variants) {
    it(`G12: access revoked while connected ends the stream's delivery on the next connection (${session})`, async () => {
      const allowed = new Set(["private", "public"]);
      let restored = 0;
      server = await startSocketServer({
        serverOptions,
        authorize: (_socket, stream) => allowed.has(stream),
      });
      server.io.on("connection", (socket) => {
        if (socket.recovered) restored++;
      });
      const c = new RecordingClient(server.url);
      client = c;
      c.client.subscribe("private", { from: "earliest" });
      c.client.subscribe("public", { from: "earliest" });
      await c.client.connect();
      await server.assured.publish("private", "e", { secret: 1 });
      await c.reached("private", 1);

      allowed.delete("private");
      const reconnected = nextEvent(c.socket, "connect");
      c.socket.io.engine.close();
      await reconnected;
      const refused = await c.changes.until(() => c.errors.find((e) => e.code === "UNAUTHORIZED"));
      expect(refused.details).toMatchObject({ stream: "private" });

      // Events of one socket arrive in emit order: once the public marker is in, a private
      // event published before it would have arrived too.
      await server.assured.publish("private", "e", { secret: 2 });
      await server.assured.publish("public", "e", { marker: true });
      await c.reached("public", 1);
      expect(c.data("private")).toEqual([{ secret: 1 }]);
      if (serverOptions.connectionStateRecovery) expect(restored).toBe(1);
    });
  }

  it("G12: events published while a revoked client was away never reach it, not even as packets replayed by Socket.IO's connection state recovery", async () => {
    const allowed = new Set(["private", "public"]);
    let restored = 0;
    server = await startSocketServer({
      serverOptions: { connectionStateRecovery: { maxDisconnectionDuration: 60_000 } },
      authorize: (_socket, stream) => allowed.has(stream),
    });
    server.io.on("connection", (socket) => {
      if (socket.recovered) restored++;
    });
    const c = new RecordingClient(server.url);
    client = c;
    c.client.subscribe("private", { from: "earliest" });
    c.client.subscribe("public", { from: "earliest" });
    await c.client.connect();
    await server.assured.publish("private", "e", { secret: 1 });
    await c.reached("private", 1);

    // The transport dies and stays down while access is revoked and a secret is published.
    c.socket.io.reconnection(false);
    const gone = nextEvent(c.socket, "disconnect");
    c.socket.io.engine.close();
    await gone;
    allowed.delete("private");
    await server.assured.publish("private", "e", { secret: 2 });
    await server.assured.publish("public", "e", { marker: 1 });

    // What reaches the socket, not only the handlers: a hostile client reads the wire.
    const privateFrames: unknown[] = [];
    c.socket.onAny((event: string, frame: { stream?: string }) => {
      if (event === "assured:batch" && frame.stream === "private") privateFrames.push(frame);
    });
    c.socket.io.reconnection(true);
    c.socket.connect();
    await c.reached("public", 1);
    await c.changes.until(() => c.errors.find((e) => e.code === "UNAUTHORIZED"));
    await server.assured.publish("public", "e", { marker: 2 });
    await c.reached("public", 2);
    expect(restored).toBe(1);
    expect(c.data("private")).toEqual([{ secret: 1 }]);
    expect(privateFrames).toEqual([]);
  });
});
