import { AssuredError } from "@assured/core";
import { DEFAULT_CASE_TIMEOUT_MS, type SuiteOptions } from "./harness.js";

function checkPositiveInteger(value: unknown, what: string): void {
  if (
    value !== undefined &&
    !(typeof value === "number" && Number.isSafeInteger(value) && value > 0)
  ) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `${what} must be a positive integer, got ${String(value)}.`,
    );
  }
}

/** The per-case timeout from the suite options (validated; default 30,000 ms). */
export function caseTimeout(options: SuiteOptions): number {
  checkPositiveInteger(options.timeoutMs, "options.timeoutMs");
  return options.timeoutMs ?? DEFAULT_CASE_TIMEOUT_MS;
}

/** How many instances a cross-instance case opens: `options.instances`, at most `workers`. */
export function instanceCount(options: SuiteOptions, workers: number): number {
  checkPositiveInteger(options.instances, "options.instances");
  return Math.min(workers, options.instances ?? workers);
}
