import { describe, expect, it } from "vitest";
import { parseSelection, SCENARIOS } from "../src/selection.js";

describe("parseSelection", () => {
  it("knows the storm and memory scenarios, and a run without them is partial", () => {
    expect(SCENARIOS).toContain("storm");
    expect(SCENARIOS).toContain("memory");
    const storm = parseSelection(["--only", "storm,memory"]);
    expect([...storm.scenarios]).toEqual(["storm", "memory"]);
    expect(storm.complete).toBe(false);
    expect(parseSelection(["--only", "live,catch-up,client-to-server,store-writes"]).complete).toBe(
      false,
    );
    expect(parseSelection([]).complete).toBe(true);
  });

  it("rejects an unknown scenario", () => {
    expect(() => parseSelection(["--only", "storms"])).toThrow(/unknown "storms"/);
  });
});
