import { describe, expect, it } from "vitest";
import { closestName, didYouMean, editDistance } from "../src/closest-name.js";

describe("closest option name (typo suggestions)", () => {
  it("counts insertions, deletions, substitutions and swapped neighbours as one edit each", () => {
    expect(editDistance("retention", "retention")).toBe(0);
    expect(editDistance("retension", "retention")).toBe(1);
    expect(editDistance("maxLenght", "maxLength")).toBe(1);
    expect(editDistance("maxEntry", "maxEntries")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("abc", "")).toBe(3);
    expect(editDistance("kitten", "sitting")).toBe(3);
  });

  it("suggests the closest known name, ignoring case, and nothing when none is close", () => {
    const keys = ["path", "database", "retention", "sweepIntervalMs", "maxEntries"];
    expect(closestName("retension", keys)).toBe("retention");
    expect(closestName("Retention", keys)).toBe("retention");
    expect(closestName("maxEntry", keys)).toBe("maxEntries");
    expect(closestName("sweepInterval", keys)).toBe("sweepIntervalMs");
    expect(closestName("pth", keys)).toBe("path");
    expect(closestName("bogus", keys)).toBeUndefined();
    expect(closestName("x", keys)).toBeUndefined();
    expect(closestName("retention", keys)).toBeUndefined();
    expect(closestName("r".repeat(1000), keys)).toBeUndefined();
    expect(closestName("a", [])).toBeUndefined();
    // Ties go to the earlier candidate.
    expect(closestName("ab", ["ac", "ad"])).toBe("ac");
    expect(didYouMean("retension", keys)).toBe(' — did you mean "retention"?');
    expect(didYouMean("bogus", keys)).toBe("");
  });
});
