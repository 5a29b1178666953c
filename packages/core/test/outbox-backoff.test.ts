import { describe, expect, it } from "vitest";
import { assertRetryPolicy, backoffDelay, DEFAULT_RETRY_POLICY } from "../src/protocol-entry.js";
import { seeded } from "./seeded.js";

describe("backoffDelay", () => {
  const policy = { initialMs: 100, maxMs: 1000, factor: 2 };

  it("grows the bound exponentially and caps it at maxMs", () => {
    const top = () => 1;
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy, top))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it("uses full jitter: every delay lies in [0, bound] and the same seed gives the same schedule", () => {
    const a = [1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy, seeded(7)));
    const b = [1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy, seeded(7)));
    expect(a).toEqual(b);
    const random = seeded(42);
    for (let n = 1; n <= 50; n++) {
      const d = backoffDelay(n, policy, random);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(Math.min(1000, 100 * 2 ** (n - 1)));
    }
  });

  it("clamps a misbehaving random source", () => {
    expect(backoffDelay(1, policy, () => 5)).toBe(100);
    expect(backoffDelay(1, policy, () => Number.NaN)).toBe(0);
  });

  it("validates policies", () => {
    expect(() => assertRetryPolicy(DEFAULT_RETRY_POLICY)).not.toThrow();
    expect(() => assertRetryPolicy({ initialMs: 0, maxMs: 1, factor: 2 })).toThrow(/initialMs/);
    expect(() => assertRetryPolicy({ initialMs: 10, maxMs: 5, factor: 2 })).toThrow(/maxMs/);
    expect(() => assertRetryPolicy(null)).toThrow(/retry/);
  });

  it("refuses an unknown key of a policy, suggesting the closest one", () => {
    const policy = { initialMs: 10, maxMs: 50, factor: 2 };
    expect(() => assertRetryPolicy({ ...policy, maxMS: 50 })).toThrow(
      'unknown option "maxMS" of retry — did you mean "maxMs"? (see RetryPolicy).',
    );
    expect(() => assertRetryPolicy({ ...policy, jitter: true })).toThrow(
      'unknown option "jitter" of retry (see RetryPolicy).',
    );
  });
});
