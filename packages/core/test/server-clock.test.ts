import { describe, expect, it, vi } from "vitest";
import { ServerClock } from "../src/store-entry.js";

describe("ServerClock", () => {
  it("carries the server's time forward on the monotonic clock and reads it again when due", async () => {
    let mono = 0;
    let server = 1_000_000;
    const reads: number[] = [];
    const clock = new ServerClock(
      async () => {
        reads.push(mono);
        mono += 4; // a 4 ms round trip
        return server;
      },
      { refreshMs: 1_000, monotonic: () => mono },
    );
    expect(await clock.now()).toBe(1_000_002);
    mono += 500;
    expect(await clock.now()).toBe(1_000_502);
    expect(reads).toHaveLength(1);
    // The server's clock was stepped: followed after the next read.
    server = 2_000_000;
    mono += 600;
    expect(await clock.now()).toBe(1_001_102);
    expect(reads).toHaveLength(2);
    await vi.waitFor(async () => expect(await clock.now()).toBe(2_000_002));
  });

  it("rejects the first read's error (a store maps it to STORE_UNAVAILABLE)", async () => {
    const clock = new ServerClock(async () => {
      throw new Error("connect ECONNREFUSED");
    });
    await expect(clock.now()).rejects.toThrow("ECONNREFUSED");
  });
});
