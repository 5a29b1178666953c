import { stripVTControlCharacters } from "node:util";
import type { Reporter, TestCase, TestModule } from "vitest/node";

/** The outcome of one conformance case. */
export interface CaseOutcome {
  /** The full case name: suite > group > case. */
  name: string;
  state: "passed" | "failed" | "skipped";
  /** Why it failed (the first error) or why it was skipped (the declared capability). */
  reason?: string;
}

/** What a conformance run found. */
export interface ConformanceSummary {
  /** The harness module that was run. */
  module: string;
  passed: number;
  failed: number;
  skipped: number;
  cases: CaseOutcome[];
  /** Errors outside any case: the module failed to load or exported no harness. */
  errors: string[];
  /** True when no case failed, no error occurred, and at least one case ran. */
  ok: boolean;
}

function outcomeOf(test: TestCase): CaseOutcome {
  const result = test.result();
  if (result.state === "failed") {
    const error = result.errors?.[0];
    const diff = typeof error?.diff === "string" ? `\n${stripVTControlCharacters(error.diff)}` : "";
    return { name: test.fullName, state: "failed", reason: `${error?.message ?? "failed"}${diff}` };
  }
  if (result.state === "skipped") {
    const note = result.note;
    return note === undefined
      ? { name: test.fullName, state: "skipped" }
      : { name: test.fullName, state: "skipped", reason: note };
  }
  return { name: test.fullName, state: "passed" };
}

/** A vitest reporter that collects case outcomes and module-level errors. */
export class CaseOutcomeCollector implements Reporter {
  readonly cases: CaseOutcome[] = [];
  readonly errors: string[] = [];

  constructor(private readonly onCase?: (outcome: CaseOutcome) => void) {}

  onTestCaseResult(test: TestCase): void {
    const outcome = outcomeOf(test);
    this.cases.push(outcome);
    this.onCase?.(outcome);
  }

  onTestRunEnd(
    modules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<{ message?: string }>,
  ): void {
    for (const module of modules) {
      for (const error of module.errors()) this.errors.push(error.message);
    }
    for (const error of unhandledErrors) this.errors.push(error.message ?? String(error));
  }

  /** The totals for `module`. */
  summary(module: string): ConformanceSummary {
    const count = (state: CaseOutcome["state"]) =>
      this.cases.filter((c) => c.state === state).length;
    const failed = count("failed");
    return {
      module,
      passed: count("passed"),
      failed,
      skipped: count("skipped"),
      cases: this.cases,
      errors: this.errors,
      ok: failed === 0 && this.errors.length === 0 && count("passed") > 0,
    };
  }
}
