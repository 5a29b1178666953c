import { describe, expect, it } from "vitest";
import { failedNames, reasonOf, runFixture } from "./run-fixture.js";

const MODEL_CASE = /DedupStore .* > dedup model .* > answers every random sequence/;

describe("the dedup model group catches what the example cases miss", () => {
  it("fails a store that keeps a key's first fingerprint after a takeover, only in the model case, with the rule, seed and shrunk commands", async () => {
    const summary = await runFixture("broken-dedup-fingerprint.ts");
    expect(failedNames(summary)).toEqual([expect.stringMatching(MODEL_CASE)]);
    const reason = reasonOf(summary, MODEL_CASE);
    expect(reason).toMatch(
      /DedupStore rule broken: a claim of a (held or done key with another fingerprint answers conflict|key whose lease runs .* answers pending|completed key answers done)/,
    );
    expect(reason).toMatch(/seed: -?\d+, path: "[\d:]+"/);
    // The shrunk commands: claims of the key with both fingerprints (a takeover in between).
    expect(reason).toMatch(/Counterexample: [^\n]*claim\([^\n]*fp-1/);
    expect(reason).toMatch(/Counterexample: [^\n]*claim\([^\n]*fp-2/);
  });
});
