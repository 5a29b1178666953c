/**
 * The programmatic runner behind the `assured-conformance` CLI: runs the suites for a harness
 * module in a fresh vitest and returns a summary. Import it from `@assured/conformance/runner`.
 */
export type { CaseOutcome, ConformanceSummary, GroupOutcome } from "./case-outcomes.js";
export { formatSummary } from "./format-summary.js";
export { type RunConformanceOptions, runConformance } from "./run-conformance.js";
