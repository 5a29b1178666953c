import { describe, expect, it } from "vitest";
import { createTestClock, TEST_CLOCK_START } from "../src/index.js";
import { caseTimeout, instanceCount } from "../src/suite-options.js";

describe("createTestClock", () => {
  it("stands still until advanced or set", () => {
    const clock = createTestClock();
    expect(clock()).toBe(TEST_CLOCK_START);
    expect(clock()).toBe(TEST_CLOCK_START);
    expect(clock.advance(250)).toBe(TEST_CLOCK_START + 250);
    expect(clock()).toBe(TEST_CLOCK_START + 250);
    clock.set(5);
    expect(clock()).toBe(5);
  });

  it("refuses to move backwards or by a fraction", () => {
    const clock = createTestClock(0);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.advance(0.5)).toThrow(RangeError);
    expect(clock()).toBe(0);
  });
});

describe("suite options", () => {
  it("default to 30 s per case and one instance per concurrent worker", () => {
    expect(caseTimeout({})).toBe(30_000);
    expect(instanceCount({}, 50)).toBe(50);
    expect(instanceCount({ instances: 5 }, 50)).toBe(5);
    expect(instanceCount({ instances: 500 }, 50)).toBe(50);
  });

  it("reject a timeout or instance count that is not a positive integer with INVALID_ARGUMENT", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, "5"]) {
      expect(() => caseTimeout({ timeoutMs: bad as number })).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
      expect(() => instanceCount({ instances: bad as number }, 50)).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
    }
  });
});
