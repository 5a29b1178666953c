import { stripVTControlCharacters } from "node:util";
import type { Reporter, TestCase, TestModule, TestSuite } from "vitest/node";

/** The outcome of one conformance case. */
export interface CaseOutcome {
  /** The full case name: suite > group > case. */
  name: string;
  state: "passed" | "failed" | "skipped";
  /** Why it failed (the first error) or why it was skipped (the declared capability). */
  reason?: string;
}

/** The totals of one group of cases (a `describe` holding cases), reported as it finishes. */
export interface GroupOutcome {
  /** The full group name: suite > group. */
  name: string;
  passed: number;
  failed: number;
  skipped: number;
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
  /** Whether the run was strict: then a skipped case makes `ok` false. */
  strict: boolean;
  /**
   * True when no case failed, no error occurred, at least one case ran, and (in a strict run)
   * no case was skipped.
   */
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

  /**
   * With `filtered` (a run given a case-name pattern), the cases the pattern left out are
   * neither counted nor reported.
   */
  constructor(
    private readonly onCase?: (outcome: CaseOutcome) => void,
    private readonly onGroup?: (outcome: GroupOutcome) => void,
    private readonly filtered = false,
  ) {}

  /** Whether `test` was left out by the case-name pattern (marked skip before it ran). */
  private leftOut(test: TestCase): boolean {
    return this.filtered && test.options.mode === "skip";
  }

  onTestCaseResult(test: TestCase): void {
    if (this.leftOut(test)) return;
    const outcome = outcomeOf(test);
    this.cases.push(outcome);
    this.onCase?.(outcome);
  }

  onTestSuiteResult(suite: TestSuite): void {
    const states = [...suite.children.tests()]
      .filter((test) => !this.leftOut(test))
      .map((test) => outcomeOf(test).state);
    if (states.length === 0) return;
    const count = (state: CaseOutcome["state"]) => states.filter((s) => s === state).length;
    this.onGroup?.({
      name: suite.fullName,
      passed: count("passed"),
      failed: count("failed"),
      skipped: count("skipped"),
    });
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

  /** The totals for `module`; with `strict`, a skipped case makes the run fail. */
  summary(module: string, strict = false): ConformanceSummary {
    const count = (state: CaseOutcome["state"]) =>
      this.cases.filter((c) => c.state === state).length;
    const failed = count("failed");
    const skipped = count("skipped");
    return {
      module,
      passed: count("passed"),
      failed,
      skipped,
      cases: this.cases,
      errors: this.errors,
      strict,
      ok:
        failed === 0 &&
        this.errors.length === 0 &&
        count("passed") > 0 &&
        (!strict || skipped === 0),
    };
  }
}
