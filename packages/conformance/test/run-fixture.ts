import { fileURLToPath } from "node:url";
import { type ConformanceSummary, runConformance } from "../src/runner.js";

/**
 * Runs the kit on `fixtures/<name>` through the programmatic runner, sources resolved; with
 * `grep`, only the cases whose name matches it (see `RunConformanceOptions.grep`).
 */
export function runFixture(
  name: string,
  strict = false,
  grep?: string,
): Promise<ConformanceSummary> {
  return runConformance({
    module: fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)),
    conditions: ["@assured/source"],
    timeoutMs: 20_000,
    strict,
    ...(grep === undefined ? {} : { grep }),
  });
}

/** The names of the failed cases. */
export function failedNames(summary: ConformanceSummary): string[] {
  return summary.cases.filter((c) => c.state === "failed").map((c) => c.name);
}

/** The reason of the first case whose name matches `pattern`. */
export function reasonOf(summary: ConformanceSummary, pattern: RegExp): string {
  return summary.cases.find((c) => pattern.test(c.name))?.reason ?? "";
}
