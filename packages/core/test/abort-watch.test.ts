import { describe, expect, it, vi } from "vitest";
import { unwatchAbort, watchAbort } from "../src/abort-watch.js";

describe("watchAbort", () => {
  it("calls every watcher once, in the order watched, when the signal aborts", () => {
    const controller = new AbortController();
    const calls: string[] = [];
    watchAbort(controller.signal, () => calls.push("a"));
    watchAbort(controller.signal, () => calls.push("b"));
    controller.abort();
    controller.abort();
    expect(calls).toEqual(["a", "b"]);
  });

  it("forgets an unwatched callback, also one removed by an earlier watcher during the abort", () => {
    const controller = new AbortController();
    const removed = vi.fn();
    const kept = vi.fn();
    watchAbort(controller.signal, () => unwatchAbort(controller.signal, removed));
    watchAbort(controller.signal, removed);
    watchAbort(controller.signal, kept);
    const gone = vi.fn();
    watchAbort(controller.signal, gone);
    unwatchAbort(controller.signal, gone);
    controller.abort();
    expect(removed).not.toHaveBeenCalled();
    expect(gone).not.toHaveBeenCalled();
    expect(kept).toHaveBeenCalledTimes(1);
  });

  it("adds one listener per signal, however many runs watch it", () => {
    const controller = new AbortController();
    const add = vi.spyOn(controller.signal, "addEventListener");
    for (let i = 0; i < 100; i++) {
      const callback = () => {};
      watchAbort(controller.signal, callback);
      unwatchAbort(controller.signal, callback);
    }
    expect(add).toHaveBeenCalledTimes(1);
  });

  it("keeps signals apart", () => {
    const first = new AbortController();
    const second = new AbortController();
    const a = vi.fn();
    const b = vi.fn();
    watchAbort(first.signal, a);
    watchAbort(second.signal, b);
    first.abort();
    expect(a).toHaveBeenCalledTimes(1);
    expect(b).not.toHaveBeenCalled();
  });
});
