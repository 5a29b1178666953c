import { AssuredError } from "@assured/core";
import { assertPositiveInteger } from "@assured/core/store";
import { DEFAULT_CASE_TIMEOUT_MS, DEFAULT_MODEL_RUNS, type SuiteOptions } from "./harness.js";

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

/** The fast-check settings of a model-based property: `numRuns` and, when given, `seed`. */
export function modelParameters(options: SuiteOptions): { numRuns: number; seed?: number } {
  if (options.runs !== undefined) assertPositiveInteger(options.runs, "options.runs");
  if (options.seed !== undefined && !Number.isInteger(options.seed)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `options.seed must be an integer (the seed a failed model-based case printed), got ${String(options.seed)}.`,
    );
  }
  const numRuns = options.runs ?? DEFAULT_MODEL_RUNS;
  return options.seed === undefined ? { numRuns } : { numRuns, seed: options.seed };
}
