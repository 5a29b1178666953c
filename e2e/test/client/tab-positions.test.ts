import { type ClientLocks, locksFor, memoryStorage } from "@assured/core/protocol";
import { describe, expect, it } from "vitest";
import { closeAfterEach, eventually, TestServer, testClient } from "./harness.js";

let server: TestServer | undefined;
const track = closeAfterEach(() => server);

/** Locks shared with `locks` whose position writes wait until `open()` (a slow tab). */
function gatedPositionLocks(locks: ClientLocks): { locks: ClientLocks; open: () => void } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    open,
    locks: {
      async request(name, options, task) {
        if (name.endsWith("positions")) await gate;
        return locks.request(name, options, task);
      },
    },
  };
}

describe("positions shared by tabs", () => {
  it("a tab's outcome taken before the stream's first event does not undo another tab's progress", async () => {
    server = await new TestServer().start();
    const storage = memoryStorage();
    const stored = async () => JSON.parse((await storage.get("assured:pos:room:1")) ?? "null");

    const page = track(testClient(server.url, { storage }));
    const handled: number[] = [];
    page.client.on<{ n: number }>("note", ({ n }) => {
      handled.push(n);
    });
    page.client.subscribe("room:1", { from: "earliest" });
    await page.client.connect();
    await eventually(async () => (await stored())?.offset === 0, "the page's first position");

    // A second tab subscribes while the stream has no event yet (epoch ""); its position write
    // is slow and lands only after the page handled the first event.
    const gated = gatedPositionLocks(locksFor(storage));
    const tab = track(testClient(server.url, { storage, locks: gated.locks }));
    tab.client.subscribe("room:1", { from: "earliest" });
    await tab.client.connect();
    await tab.waiter.until(() => tab.outcomes.length > 0, "the tab's outcome");
    expect(tab.client.position("room:1")).toEqual({ epoch: "", offset: 0 });

    await server.publishMany("room:1", 1, 1, "note");
    await eventually(async () => (await stored())?.offset === 1, "the page's position at 1");
    gated.open();
    await tab.client.close();
    // The tab (no handler for "note") is still at offset 0 of the log's first epoch.
    expect(tab.client.position("room:1")?.offset).toBe(0);
    expect((await stored())?.offset).toBe(1);

    // A reload of the page resumes after the event it handled.
    await page.client.close();
    const next = track(testClient(server.url, { storage }));
    const again: number[] = [];
    next.client.on<{ n: number }>("note", ({ n }) => {
      again.push(n);
    });
    next.client.subscribe("room:1", { from: "earliest" });
    await next.client.connect();
    await server.publishMany("room:1", 2, 1, "note");
    await eventually(() => again.length > 0, "the next event");
    expect(handled).toEqual([1]);
    expect(again).toEqual([2]);
  });
});
