import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pageCut } from "../src/store-entry.js";

describe("pageCut: where a packed page ends", () => {
  it("keeps the longest prefix within maxBytes, the first record always", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 100 }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 400 }),
        (lengths, maxBytes) => {
          const { count, bytes } = pageCut(lengths.length, (i) => lengths[i]!, maxBytes);
          const kept = lengths.slice(0, count);
          expect(bytes).toBe(kept.reduce((a, b) => a + b, 0));
          if (lengths.length > 0) expect(count).toBeGreaterThanOrEqual(1);
          // Within the bound unless the first record alone is larger.
          if (count > 1) expect(bytes).toBeLessThanOrEqual(maxBytes);
          // Longest: the next record would not fit.
          if (count < lengths.length) expect(bytes + lengths[count]!).toBeGreaterThan(maxBytes);
        },
      ),
    );
  });

  it("examples: empty, a first record larger than the bound, an exact fit", () => {
    expect(pageCut(0, () => 1, 10)).toEqual({ count: 0, bytes: 0 });
    expect(pageCut(3, () => 50, 10)).toEqual({ count: 1, bytes: 50 });
    expect(pageCut(4, () => 5, 10)).toEqual({ count: 2, bytes: 10 });
  });
});
