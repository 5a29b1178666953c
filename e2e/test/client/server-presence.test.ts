import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import { TestServer, testClient } from "./harness.js";

/*
 * A client whose socket reaches a Socket.IO server without Assured (another namespace, a server
 * that forgot createAssuredServer) is told so within ackTimeoutMs, instead of waiting forever.
 */

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

describe("a server without Assured", () => {
  it("the client reports TIMEOUT saying to attach createAssuredServer, within ackTimeoutMs", async () => {
    const httpServer = createServer();
    const io = new Server(httpServer);
    await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    closers.push(() => new Promise<void>((resolve) => io.close(() => resolve())));
    const { port } = httpServer.address() as AddressInfo;
    const c = testClient(`http://127.0.0.1:${port}`, { ackTimeoutMs: 400 });
    closers.push(() => c.client.close());
    const started = performance.now();
    await c.client.connect();
    const error = await c.waiter.until(() => c.errors[0], "the client's error", 3_000);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(error).toMatchObject({ code: "TIMEOUT" });
    expect(error.message).toMatch(/no Assured server answered.*createAssuredServer/);
    expect(c.errors).toHaveLength(1);
  });

  it("with Assured attached, no such error (the server's hello arrives first)", async () => {
    const server = await new TestServer().start();
    closers.push(() => server.stop());
    const c = testClient(server.url, { ackTimeoutMs: 400 });
    closers.push(() => c.client.close());
    await c.client.connect();
    server.assured.on("ping", () => "pong");
    expect(await c.client.emit("ping", null)).toBe("pong");
    // Past the timeout: still no error.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(c.errors).toEqual([]);
  });
});
