import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { newMessageId } from "../src/ids.js";
import { assertId } from "../src/validate.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("newMessageId", () => {
  it("sorts by the time it was made: a fixed-width base-36 clock, then 21 random characters", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 36 ** 9 - 10 ** 12 - 1 }),
        fc.integer({ min: 1, max: 10 ** 12 }),
        (earlier, gap) => {
          vi.useFakeTimers({ now: earlier, toFake: ["Date"] });
          const first = newMessageId();
          vi.setSystemTime(earlier + gap);
          const second = newMessageId();
          expect(first.length).toBe(30);
          expect(second.length).toBe(30);
          expect(first < second).toBe(true);
          assertId(first, "message id");
        },
      ),
    );
  });

  it("takes the time it is given (the outbox's clock)", () => {
    expect(newMessageId(36 ** 2).slice(0, 9)).toBe("000000100");
    expect(newMessageId(-5).slice(0, 9)).toBe("000000000");
  });

  it("stays unique within one millisecond", () => {
    vi.useFakeTimers({ now: 1_800_000_000_000, toFake: ["Date"] });
    const ids = new Set(Array.from({ length: 10_000 }, newMessageId));
    expect(ids.size).toBe(10_000);
    expect(new Set([...ids].map((id) => id.slice(0, 9))).size).toBe(1);
  });
});
