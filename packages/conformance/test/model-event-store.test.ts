import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type ConformanceSummary, runConformance } from "../src/runner.js";

/** A fixed seed, so the random sequences (and the shrunk failure) are the same on every run. */
const SEED = 20_261_129;

const run = (name: string) =>
  runConformance({
    module: fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)),
    conditions: ["@assured/source"],
    timeoutMs: 20_000,
    seed: SEED,
  });

const MODEL_GROUP = / > model-based \(random operation sequences\) > /;

function failed(summary: ConformanceSummary) {
  return summary.cases.filter((c) => c.state === "failed");
}

describe("the model-based EventStore cases", () => {
  it("fail a store whose read stops at an internal page of 100 records, which every fixed case passes", async () => {
    const summary = await run("broken-read-page.ts");
    const failures = failed(summary);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.map((c) => c.name).filter((name) => !MODEL_GROUP.test(name))).toEqual([]);
    expect(failures.map((c) => c.name)).toContainEqual(
      expect.stringMatching(/matches the model over random appends/),
    );
    const reason = failures[0]!.reason ?? "";
    expect(reason).toMatch(/Reads rule broken: read returns the retained records/);
    expect(reason).toMatch(/got 100 records/);
    expect(reason).toContain(`seed: ${SEED}, path: "`);
    expect(reason).toMatch(/Counterexample: \[.*append\(\d, \d+ entries/);
    expect(reason).toMatch(/Shrunk \d+ time\(s\)/);
  });

  it("fail a store whose reset of `a` also resets `a:b`, which every fixed case passes", async () => {
    const summary = await run("broken-prefix-reset.ts");
    const failures = failed(summary);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.map((c) => c.name).filter((name) => !MODEL_GROUP.test(name))).toEqual([]);
    const reason = failures[0]!.reason ?? "";
    expect(reason).toMatch(/(Epochs|Heads|Reads|Offsets) rule broken/);
    expect(reason).toMatch(/reset\(\d\)/);
    expect(reason).toContain(`seed: ${SEED}`);
  });

  it("replay a reported failure from its seed: the same shrunk counterexample", async () => {
    const counterexample = (summary: ConformanceSummary) =>
      /Counterexample: .*/.exec(failed(summary)[0]?.reason ?? "")?.[0];
    const first = counterexample(await run("broken-prefix-reset.ts"));
    expect(first).toBeDefined();
    expect(counterexample(await run("broken-prefix-reset.ts"))).toBe(first);
  });
});
