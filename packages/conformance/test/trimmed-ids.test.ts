import { describe, expect, it } from "vitest";
import { failedNames, reasonOf, runFixture } from "./run-fixture.js";

describe("the trimmed-id rule", () => {
  it("fails a store that still answers duplicate for an id whose event was trimmed", async () => {
    const summary = await runFixture("trimmed-ids-held.ts");
    const failed = failedNames(summary);
    expect(failed).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/trimmed ids .* > appends an id again, as a new event, once its age/),
        expect.stringMatching(/trimmed ids .* > appends an id again, as a new event, once length/),
      ]),
    );
    // Besides them, only the model-based retention case (random sequences) may catch it.
    expect(failed.filter((name) => !/> trimmed ids |> model-based /.test(name))).toEqual([]);
    expect(reasonOf(summary, /once length retention/)).toMatch(
      /an id is held only while its event is retained/,
    );
  });
});
