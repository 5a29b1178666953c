import { describe, expect, it } from "vitest";
import type { CaseOutcome, ConformanceSummary } from "../src/runner.js";
import { formatSummary } from "../src/runner.js";
import { runFixture } from "./run-fixture.js";

function summaryOf(cases: CaseOutcome[], strict = false): ConformanceSummary {
  const count = (state: CaseOutcome["state"]) => cases.filter((c) => c.state === state).length;
  const skipped = count("skipped");
  return {
    module: "m.ts",
    passed: count("passed"),
    failed: count("failed"),
    skipped,
    cases,
    errors: [],
    strict,
    ok: count("failed") === 0 && (!strict || skipped === 0),
  };
}

const pass = (name: string): CaseOutcome => ({ name, state: "passed" });
const skip = (name: string, reason: string): CaseOutcome => ({ name, state: "skipped", reason });
const fail = (name: string, reason: string): CaseOutcome => ({ name, state: "failed", reason });

describe("formatSummary", () => {
  it("says PASS with the number of skips, and lists every skip with its reason", () => {
    const text = formatSummary(
      summaryOf([pass("S > g > a"), skip("S > g > b", "why b"), skip("S > h > c", "why c")]),
    );
    expect(text).toMatch(/^ {2}- S > g > b \(why b\)$/m);
    expect(text).toMatch(/^ {2}- S > h > c \(why c\)$/m);
    expect(text).toMatch(/^Result: PASS \(2 skipped, see above\)$/m);
  });

  it("says plain PASS without skips", () => {
    expect(formatSummary(summaryOf([pass("S > g > a")]))).toMatch(/^Result: PASS$/m);
  });

  it("fails a strict run with skips, saying why", () => {
    const text = formatSummary(summaryOf([pass("S > g > a"), skip("S > g > b", "why")], true));
    expect(text).toMatch(/^Result: FAIL \(--strict: 1 skipped, see above\)$/m);
  });

  it("names the rule and what to fix, and collapses identical failures with their count", () => {
    const text = formatSummary(
      summaryOf([
        fail("S > g > one rule", "expected 1 to be 2"),
        fail("S > h > a", "create() failed: connection refused"),
        fail("S > h > b", "create() failed: connection refused"),
        fail("S > i > c", "create() failed: connection refused"),
      ]),
    );
    expect(text).toContain("  ✗ S > g > one rule\n      fix: expected 1 to be 2\n");
    expect(text).toContain(
      [
        "  ✗ 3 cases failed with the same error",
        "      fix: create() failed: connection refused",
        "      in: S > h > a",
        "      in: S > h > b",
        "      in: S > i > c",
      ].join("\n"),
    );
    expect(text.match(/connection refused/g)).toHaveLength(1);
    expect(text).toMatch(/^Result: FAIL$/m);
  });
});

describe("--strict in the runner", () => {
  it("makes a run with skips not ok, and the same run without it ok", async () => {
    const strict = await runFixture("private-memory-harness.ts", true);
    expect(strict).toMatchObject({ ok: false, failed: 0, strict: true });
    expect(strict.skipped).toBeGreaterThan(0);
    const lenient = await runFixture("private-memory-harness.ts");
    expect(lenient).toMatchObject({ ok: true, failed: 0, strict: false });
  });
});
