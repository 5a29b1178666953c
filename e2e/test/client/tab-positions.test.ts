import { MemoryEventStore } from "@assured/core";
import {
  type ClientLocks,
  type ClientStorage,
  locksFor,
  memoryStorage,
} from "@assured/core/protocol";
import { describe, expect, it } from "vitest";
import { closeAfterEach, eventually, TestServer, testClient } from "./harness.js";

let server: TestServer | undefined;
const track = closeAfterEach(() => server);

/** Locks shared with `locks` whose position writes wait while the gate is held (a slow tab). */
function gatedPositionLocks(locks: ClientLocks) {
  let gate: Promise<void> | undefined;
  let release = () => {};
  return {
    hold(): void {
      gate = new Promise<void>((resolve) => {
        release = resolve;
      });
    },
    open(): void {
      release();
      gate = undefined;
    },
    locks: {
      async request(name, options, task) {
        if (name.endsWith("positions") && gate !== undefined) await gate;
        return locks.request(name, options, task);
      },
    } satisfies ClientLocks,
  };
}

/** A page on `storage` subscribed to room:1 from its stored position, recording its "note"s. */
async function openPage(storage: ClientStorage) {
  const page = track(testClient(server!.url, { storage }));
  const handled: number[] = [];
  page.client.on<{ n: number }>("note", (data) => {
    handled.push(data.n);
  });
  page.client.subscribe("room:1", { from: "earliest" });
  await page.client.connect();
  return { ...page, handled };
}

/** The offset stored for room:1, or undefined. */
async function storedOffset(storage: ClientStorage): Promise<number | undefined> {
  const text = await storage.get("assured:pos:room:1");
  return text === null ? undefined : (JSON.parse(text) as { offset: number }).offset;
}

/**
 * A new page life on `storage`; once event `n` is published and handled, what it handled
 * (events delivered again would come first).
 */
async function afterReload(storage: ClientStorage, n: number): Promise<number[]> {
  const { handled } = await openPage(storage);
  await server!.publishMany("room:1", n, 1, "note");
  await eventually(() => handled.includes(n), `event ${n} after the reload`);
  return handled;
}

describe("positions shared by tabs", () => {
  it("a tab's outcome taken before the stream's first event does not undo another tab's progress", async () => {
    server = await new TestServer().start();
    const storage = memoryStorage();
    const page = await openPage(storage);
    const { handled } = page;
    await eventually(async () => (await storedOffset(storage)) === 0, "the page's first position");

    // A second tab subscribes while the stream has no event yet (epoch ""); its position write
    // is slow and lands only after the page handled the first event.
    const gated = gatedPositionLocks(locksFor(storage));
    gated.hold();
    const tab = track(testClient(server.url, { storage, locks: gated.locks }));
    tab.client.subscribe("room:1", { from: "earliest" });
    await tab.client.connect();
    await tab.waiter.until(() => tab.outcomes.length > 0, "the tab's outcome");
    expect(tab.client.position("room:1")).toEqual({ epoch: "", offset: 0 });

    await server.publishMany("room:1", 1, 1, "note");
    await eventually(async () => (await storedOffset(storage)) === 1, "the page's position at 1");
    gated.open();
    await tab.client.close();
    // The tab (no handler for "note") is still at offset 0 of the log's first epoch.
    expect(tab.client.position("room:1")?.offset).toBe(0);
    expect(await storedOffset(storage)).toBe(1);

    // A reload of the page resumes after the event it handled.
    await page.client.close();
    expect(await afterReload(storage, 2)).toEqual([2]);
    expect(handled).toEqual([1]);
  });

  it("a tab's late correction after the log was lost does not undo what another tab handled in the new log", async () => {
    server = await new TestServer().start();
    await server.publishMany("room:1", 1, 3, "note");
    const storage = memoryStorage();
    const page = await openPage(storage);
    const { handled } = page;
    // The second tab handles the first log's events, and none of the next one's (it throws).
    const gated = gatedPositionLocks(locksFor(storage));
    const tab = track(testClient(server.url, { storage, locks: gated.locks }));
    const tabHandled: number[] = [];
    tab.client.on<{ n: number }>("note", ({ n }) => {
      if (n >= 10) throw new Error("the tab does not get this far");
      tabHandled.push(n);
    });
    tab.client.subscribe("room:1", { from: "earliest" });
    await tab.client.connect();
    await eventually(() => handled.length === 3 && tabHandled.length === 3, "both at 3");
    await eventually(async () => (await storedOffset(storage)) === 3, "offset 3 stored");
    gated.hold(); // from now on the tab's position writes are slow

    // The store is lost: both tabs come back to a stream with no log and resync (`epoch`).
    await server.stop();
    await server.start({}, new MemoryEventStore());
    await eventually(
      () => page.outcomes.some((o) => !o.recovered) && tab.outcomes.some((o) => !o.recovered),
      "both epoch outcomes",
    );
    await eventually(async () => (await storedOffset(storage)) === 0, "the page's resync stored");
    await server.publishMany("room:1", 10, 5, "note");
    await eventually(() => handled.length === 8, "the page handled the new log");
    await eventually(async () => (await storedOffset(storage)) === 5, "offset 5 stored");
    // The tab's correction (to offset 0, judged at the first log's 3) lands now.
    gated.open();
    await tab.client.close();
    expect(await storedOffset(storage)).toBe(5);

    await page.client.close();
    expect(await afterReload(storage, 20)).toEqual([20]);
    expect(handled).toEqual([1, 2, 3, 10, 11, 12, 13, 14]);
  });
});
