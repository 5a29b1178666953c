import { describe, expect, it } from "vitest";
import { failedNames, reasonOf, runFixture } from "./run-fixture.js";

describe("the trimmed-id rule", () => {
  it("fails a store that still answers duplicate for an id whose event was trimmed", async () => {
    const summary = await runFixture("trimmed-ids-held.ts");
    expect(failedNames(summary).sort()).toEqual([
      expect.stringMatching(/trimmed ids .* > appends an id again, as a new event, once its age/),
      expect.stringMatching(/trimmed ids .* > appends an id again, as a new event, once length/),
    ]);
    expect(reasonOf(summary, /once length retention/)).toMatch(
      /an id is held only while its event is retained/,
    );
  });
});
