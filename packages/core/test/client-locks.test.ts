import { afterEach, describe, expect, it, vi } from "vitest";
import { isWebLocks, locksFor, memoryLocks, webLocks } from "../src/protocol-entry.js";

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Holds the lock `name` until the returned function is called. */
async function hold(locks: ReturnType<typeof memoryLocks>, name: string): Promise<() => void> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  await new Promise<void>((granted) => {
    void locks.request(name, {}, async () => {
      granted();
      await held;
    });
  });
  return release;
}

describe("memoryLocks: cancelling a queued request (signal)", () => {
  it("an aborted request leaves the queue, rejects with an AbortError and never runs", async () => {
    const locks = memoryLocks();
    const release = await hold(locks, "l");
    const controller = new AbortController();
    let ran = false;
    const waiting = locks.request("l", { signal: controller.signal }, async () => {
      ran = true;
    });
    const later = locks.request("l", {}, async () => "later");
    expect(locks.queued("l")).toBe(2);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: "AbortError" });
    expect(locks.queued("l")).toBe(1);
    release();
    expect(await later).toBe("later");
    expect(ran).toBe(false);
    expect(locks.queued("l")).toBe(0);
  });

  it("rejects at once with an aborted signal; aborting after the grant changes nothing", async () => {
    const locks = memoryLocks();
    const aborted = AbortSignal.abort();
    await expect(locks.request("l", { signal: aborted }, async () => 1)).rejects.toMatchObject({
      name: "AbortError",
    });
    const controller = new AbortController();
    const granted = locks.request("l", { signal: controller.signal }, async () => {
      controller.abort();
      await tick();
      return "kept";
    });
    expect(await granted).toBe("kept");
    expect(locks.queued("l")).toBe(0);
  });

  it("rejects signal with ifAvailable (NotSupportedError, as Web Locks do)", async () => {
    const locks = memoryLocks();
    const signal = new AbortController().signal;
    await expect(
      locks.request("l", { ifAvailable: true, signal }, async () => 1),
    ).rejects.toMatchObject({ name: "NotSupportedError" });
  });
});

describe("webLocks", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("passes the signal to navigator.locks and is recognised by isWebLocks", async () => {
    const seen: unknown[] = [];
    vi.stubGlobal("navigator", {
      locks: {
        request: async (_name: string, options: unknown, task: (lock: unknown) => unknown) => {
          seen.push(options);
          return task({});
        },
      },
    });
    const web = webLocks()!;
    const signal = new AbortController().signal;
    expect(await web.request("l", { signal }, async (granted) => granted)).toBe(true);
    expect(await web.request("l", {}, async (granted) => granted)).toBe(true);
    expect(seen).toEqual([{ ifAvailable: false, signal }, { ifAvailable: false }]);
    expect(isWebLocks(web)).toBe(true);
    expect(isWebLocks(locksFor({}))).toBe(true);
    expect(isWebLocks(memoryLocks())).toBe(false);
  });
});
