import { AssuredError } from "@assured/core";
import { afterEach, describe, expect, it } from "vitest";
import { FaultyStore } from "./faulty-store.js";
import { assuredAuth, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
const servers: Started[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
async function start(options: Parameters<typeof startAssured>[0] = {}) {
  const started = await startAssured(options);
  servers.push(started);
  return started;
}

describe("close", () => {
  it("waits for a running handler and a pending publish that finish, and reports it", async () => {
    const store = new FaultyStore();
    const server = await start({ store });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    server.assured.on("slow", async () => {
      started();
      await released;
      return "done";
    });
    const peer = await server.connect(assuredAuth());
    const reply = peer.send("slow", null);
    await running;
    store.hold();
    const published = server.assured.publish("s", "e", 1);
    await store.waitForHeld(1);
    const closing = server.assured.close();
    release();
    store.release();
    expect(await closing).toBe(true);
    await expect(published).resolves.toMatchObject({ offset: 1 });
    await expect(reply).resolves.toMatchObject({ ok: true });
  });

  it("a hung handler or a store that never answers cannot hang close(): it resolves after closeTimeoutMs", async () => {
    const store = new FaultyStore();
    const server = await start({ store, limits: { closeTimeoutMs: 50 } });
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    server.assured.on("hang", async () => {
      started();
      await new Promise(() => {}); // never settles
    });
    const peer = await server.connect(assuredAuth());
    void peer.send("hang", null).catch(() => undefined);
    await running;
    store.hold(); // the store never answers this append
    void server.assured.publish("s", "e", 1).catch(() => undefined);
    await store.waitForHeld(1);
    const began = Date.now();
    expect(await server.assured.close()).toBe(false);
    expect(Date.now() - began).toBeLessThan(2_000);
    await expect(server.assured.publish("s", "e", 2)).rejects.toMatchObject({ code: "CLOSED" });
    // A second close shares the first one's outcome.
    expect(await server.assured.close()).toBe(false);
    store.release();
  });

  it("close({ timeoutMs }) overrides the limit; bad values are INVALID_ARGUMENT", async () => {
    const server = await start();
    await expect(server.assured.close({ timeoutMs: -1 })).rejects.toBeInstanceOf(AssuredError);
    await expect(server.assured.close(null as never)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    expect(await server.assured.close({ timeoutMs: 0 })).toBe(true);
  });
});
