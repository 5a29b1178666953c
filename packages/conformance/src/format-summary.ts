import type { ConformanceSummary } from "./case-outcomes.js";

/** A readable report of a conformance run: totals, failing cases with reasons, skip reasons. */
export function formatSummary(summary: ConformanceSummary): string {
  const lines: string[] = [`Assured conformance: ${summary.module}`];
  for (const error of summary.errors) lines.push(`  ERROR ${error}`);
  const failed = summary.cases.filter((c) => c.state === "failed");
  if (failed.length > 0) {
    lines.push("", "Failed:");
    for (const c of failed) {
      lines.push(`  ✗ ${c.name}`);
      const reason = (c.reason ?? "").split("\n").slice(0, 16);
      for (const line of reason) lines.push(`      ${line}`);
    }
  }
  const skipped = summary.cases.filter((c) => c.state === "skipped");
  if (skipped.length > 0) {
    lines.push("", "Skipped:");
    for (const c of skipped) lines.push(`  - ${c.name} (${c.reason ?? "no reason given"})`);
  }
  lines.push(
    "",
    `Cases: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped (${summary.cases.length} total)`,
    summary.ok ? "Result: PASS" : "Result: FAIL",
  );
  return lines.join("\n");
}
