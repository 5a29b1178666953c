import { decode, MemoryDedupStore } from "@assured/core";
import type { MessageReply } from "@assured/core/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { assuredAuth, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
const servers: Started[] = [];
const HOUR = 3_600_000;

// Only `Date` is replaced: the wall clock as this process sees it (libfaketime does the same to
// a node in the chaos run's `clock-jump` fault); timers and `performance.now` stay real.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
});
afterEach(async () => {
  vi.useRealTimers();
  for (const s of servers.splice(0)) await s.close();
});

describe("the lease watchdog under a wall-clock step", () => {
  it("G9/G11: a running handler is not timed out when the wall clock jumps an hour forward", async () => {
    // The dedup store keeps time on a clock of its own (Redis and MongoDB use the database
    // server's): the step is this node's only. A store on the stepped wall clock would see every
    // lease expire, and the running handler's renewal then loses its lease (as it must: any
    // other node could take the message over).
    const dedupStore = new MemoryDedupStore({ clock: () => performance.now() });
    const server = await startAssured({ dedupStore, limits: { leaseMs: 2_000 } });
    servers.push(server);
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
    const reply = peer.send("slow", null, "m1", 1);
    await running;
    vi.setSystemTime(Date.now() + HOUR);
    // The watchdog checks every second: let it run once with the handler still inside its
    // lease (a negative condition, so a bounded wait: 1.3 s of the 2 s lease).
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    release();
    const answer: MessageReply = await reply;
    expect(answer).toMatchObject({ id: "m1", ok: true });
    expect(decode((answer as { payload: Uint8Array }).payload)).toBe("done");
  });
});
