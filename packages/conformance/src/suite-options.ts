import { assertPositiveInteger } from "@assured/core";
import { DEFAULT_CASE_TIMEOUT_MS, type SuiteOptions } from "./harness.js";

/** The per-case timeout from the suite options (validated; default 30,000 ms). */
export function caseTimeout(options: SuiteOptions): number {
  if (options.timeoutMs !== undefined)
    assertPositiveInteger(options.timeoutMs, "options.timeoutMs");
  return options.timeoutMs ?? DEFAULT_CASE_TIMEOUT_MS;
}

/** How many instances a cross-instance case opens: `options.instances`, at most `workers`. */
export function instanceCount(options: SuiteOptions, workers: number): number {
  if (options.instances !== undefined)
    assertPositiveInteger(options.instances, "options.instances");
  return Math.min(workers, options.instances ?? workers);
}
