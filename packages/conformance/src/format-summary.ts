import type { CaseOutcome, ConformanceSummary } from "./case-outcomes.js";

/** Most case names listed under one collapsed failure. */
const NAMES_PER_FAILURE = 5;
/** Most lines of a failure's reason (message and diff) printed. */
const REASON_LINES = 16;

/** Failed cases grouped by identical reason, in the order their first case failed. */
function groupFailures(failed: readonly CaseOutcome[]): Map<string, CaseOutcome[]> {
  const groups = new Map<string, CaseOutcome[]>();
  for (const c of failed) {
    const reason = c.reason ?? "failed";
    groups.set(reason, [...(groups.get(reason) ?? []), c]);
  }
  return groups;
}

/** The lines of one failure: the rule (case name), what to fix (the assertion's message), the diff. */
function failureLines(reason: string, cases: readonly CaseOutcome[]): string[] {
  const [message = "failed", ...detail] = reason.split("\n").slice(0, REASON_LINES);
  const lines =
    cases.length === 1
      ? [`  ✗ ${cases[0]!.name}`, `      fix: ${message}`]
      : [`  ✗ ${cases.length} cases failed with the same error`, `      fix: ${message}`];
  for (const line of detail) lines.push(`      ${line}`.trimEnd());
  if (cases.length > 1) {
    for (const c of cases.slice(0, NAMES_PER_FAILURE)) lines.push(`      in: ${c.name}`);
    if (cases.length > NAMES_PER_FAILURE) {
      lines.push(`      … and ${cases.length - NAMES_PER_FAILURE} more`);
    }
  }
  return lines;
}

function resultLine(summary: ConformanceSummary): string {
  if (summary.ok) {
    return summary.skipped > 0
      ? `Result: PASS (${summary.skipped} skipped, see above)`
      : "Result: PASS";
  }
  const onlySkips = summary.failed === 0 && summary.errors.length === 0 && summary.passed > 0;
  return summary.strict && onlySkips
    ? `Result: FAIL (--strict: ${summary.skipped} skipped, see above)`
    : "Result: FAIL";
}

/**
 * A readable report of a conformance run: failures (identical ones collapsed, each naming the
 * rule and what to fix), every skip with its reason, totals and the result.
 */
export function formatSummary(summary: ConformanceSummary): string {
  const lines: string[] = [`Assured conformance: ${summary.module}`];
  for (const error of summary.errors) lines.push(`  ERROR ${error}`);
  const failed = summary.cases.filter((c) => c.state === "failed");
  if (failed.length > 0) {
    lines.push("", "Failed:");
    for (const [reason, cases] of groupFailures(failed)) lines.push(...failureLines(reason, cases));
  }
  const skipped = summary.cases.filter((c) => c.state === "skipped");
  if (skipped.length > 0) {
    lines.push("", "Skipped:");
    for (const c of skipped) lines.push(`  - ${c.name} (${c.reason ?? "no reason given"})`);
  }
  lines.push(
    "",
    `Cases: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped (${summary.cases.length} total)`,
    resultLine(summary),
  );
  return lines.join("\n");
}
