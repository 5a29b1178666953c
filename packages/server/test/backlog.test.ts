import { FRAMES } from "@assured/core";
import { afterEach, describe, expect, it } from "vitest";
import { assuredAuth, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("backlog of a client that stopped reading", () => {
  it("G11: a connection whose unsent packets exceed maxSocketBacklog is closed; other clients keep receiving", async () => {
    server = await startAssured({ limits: { maxSocketBacklog: 20 } });
    const sub = [{ stream: "s", position: null, from: "head" }];
    const auth = assuredAuth(sub);
    const stalled = await server.connect(auth);
    const healthy = await server.connect(assuredAuth(sub));
    await stalled.next(FRAMES.subscribed);
    await healthy.next(FRAMES.subscribed);
    const [stalledOnServer] = [...server.io.sockets.sockets.values()].filter(
      (s) =>
        s.handshake.auth.assured.clientId === (stalled.socket.auth as typeof auth).assured.clientId,
    );
    const closed = new Promise<string>((resolve) =>
      stalledOnServer!.once("disconnect", (reason) => resolve(reason)),
    );
    // The client stops reading its TCP connection: the server's kernel buffers fill, then
    // Socket.IO's write buffer.
    const transport = stalled.socket.io.engine.transport as unknown as {
      ws: { _socket: { pause(): void } };
    };
    transport.ws._socket.pause();
    const payload = "x".repeat(16 * 1024);
    const backlog = () =>
      (stalledOnServer!.conn as unknown as { writeBuffer: unknown[] }).writeBuffer.length;
    let published = 0;
    // Publish until Socket.IO holds more than the limit for the stalled connection (each
    // publish is one binary packet per subscriber); the guard closes it within a second.
    for (; backlog() <= 40 && published < 5_000; published++) {
      await server.assured.publish("s", "e", payload);
    }
    expect(backlog()).toBeGreaterThan(20);
    expect(await closed).toBe("forced close");
    await healthy.until(() => healthy.offsets("s").length >= published, 10_000);
    expect(healthy.socket.connected).toBe(true);
  });
});
