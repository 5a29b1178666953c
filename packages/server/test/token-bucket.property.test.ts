import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  availableTokens,
  fullBucket,
  returnTokens,
  type TokenBucket,
  takeOwed,
  takeTokens,
} from "../src/token-bucket.js";

/**
 * Property tests of the token bucket behind the rate limit (G11): whatever sequence of charges
 * arrives, at whatever times and costs, the bucket never grants more than `burst` plus what it
 * earned (`rate × elapsed`), and a refused charge takes nothing.
 */

/** One operation on the bucket, `dt` ms after the previous one (0: the same instant). */
type Op =
  | { kind: "take"; dt: number; cost: number }
  | { kind: "return"; dt: number; share: number }
  | { kind: "owe"; dt: number; cost: number };

// Mostly charges at the same instant or close together, so buckets run dry often.
const dt = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 20 }) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 5_000, noNaN: true }) },
);
const cost = fc.oneof(
  fc.integer({ min: 0, max: 100 }),
  fc.double({ min: 0, max: 100, noNaN: true }),
);
const takeOp = fc.record({ kind: fc.constant("take" as const), dt, cost });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: takeOp },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("return" as const),
      dt,
      share: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("owe" as const), dt, cost }) },
);
const config = fc.record({
  rate: fc.oneof(
    fc.integer({ min: 1, max: 2_000 }),
    fc.double({ min: 0.01, max: 2_000, noNaN: true }),
  ),
  burst: fc.integer({ min: 1, max: 200 }),
  start: fc.double({ min: 0, max: 1e9, noNaN: true }),
});

/** Floating-point slack for sums of fractional tokens. */
const EPSILON = 1e-6;

describe("token bucket (G11)", () => {
  it("G11: takes alone never grant more than burst + rate × elapsed; a refusal takes nothing", () => {
    fc.assert(
      fc.property(config, fc.array(takeOp, { maxLength: 200 }), ({ rate, burst, start }, ops) => {
        const bucket = fullBucket(burst, start);
        let now = start;
        let granted = 0;
        for (const { dt, cost } of ops) {
          now += dt;
          const before = availableTokens({ ...bucket }, rate, burst, now);
          const ok = takeTokens(bucket, cost, rate, burst, now);
          if (ok) {
            granted += cost;
            expect(bucket.tokens).toBeCloseTo(before - cost, 6);
          } else {
            // Refused: only because the bucket did not hold the cost, and nothing was taken.
            expect(before).toBeLessThan(cost);
            expect(bucket.tokens).toBe(before);
          }
          const earned = ((now - start) * rate) / 1000;
          expect(granted).toBeLessThanOrEqual(burst + earned + EPSILON * (1 + granted));
          expect(bucket.tokens).toBeLessThanOrEqual(burst);
          expect(bucket.tokens).toBeGreaterThanOrEqual(-EPSILON);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("G11: with reservations given back and work owed, the balance plus everything charged never exceeds burst + rate × elapsed", () => {
    fc.assert(
      fc.property(config, fc.array(op, { maxLength: 200 }), ({ rate, burst, start }, ops) => {
        const bucket: TokenBucket = fullBucket(burst, start);
        let now = start;
        let charged = 0; // taken, minus given back, plus owed work actually deducted
        const reservations: number[] = [];
        for (const o of ops) {
          now += o.dt;
          const before = availableTokens({ ...bucket }, rate, burst, now);
          if (o.kind === "take") {
            if (takeTokens(bucket, o.cost, rate, burst, now)) {
              charged += o.cost;
              reservations.push(o.cost);
              // A take never puts the bucket into debt.
              expect(bucket.tokens).toBeGreaterThanOrEqual(-EPSILON);
            } else {
              expect(bucket.tokens).toBe(before);
            }
          } else if (o.kind === "return") {
            // Gives back part of an earlier reservation (a fetch that read less than its limit).
            const reserved = reservations.pop();
            if (reserved === undefined) continue;
            const back = reserved * o.share;
            returnTokens(bucket, back, rate, burst, now);
            charged -= back;
          } else {
            takeOwed(bucket, o.cost, rate, burst, now);
            charged += before - bucket.tokens;
          }
          const earned = ((now - start) * rate) / 1000;
          expect(bucket.tokens).toBeLessThanOrEqual(burst);
          // Owed work may push the bucket below zero: what was charged beyond burst + earned
          // is exactly the debt not yet paid back.
          const slack = EPSILON * (1 + Math.abs(charged) + burst + earned);
          expect(charged + bucket.tokens).toBeLessThanOrEqual(burst + earned + slack);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("G11: time that goes backwards earns nothing and is not earned twice", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 1, max: 1_000 }),
        fc.array(fc.double({ min: -1_000, max: 1_000, noNaN: true }), { maxLength: 100 }),
        (rate, burst, steps) => {
          const bucket = fullBucket(burst, 0);
          let now = 0;
          let latest = 0;
          let granted = 0;
          for (const step of steps) {
            now += step;
            latest = Math.max(latest, now);
            while (takeTokens(bucket, 1, rate, burst, now)) granted++;
            // Granted tokens are bounded by the latest time seen, however the clock jumped.
            expect(granted).toBeLessThanOrEqual(burst + (latest * rate) / 1000 + EPSILON);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
