import { AssuredError } from "./errors.js";
import { assertKnownOptions, assertPositiveInteger } from "./validate.js";

/** An exponential retry schedule: the n-th retry waits up to `initialMs * factor^(n-1)`, capped at `maxMs`. */
export interface RetryPolicy {
  /** Upper bound of the first retry's delay, in milliseconds. */
  initialMs: number;
  /** Upper bound of any retry's delay, in milliseconds. */
  maxMs: number;
  /** Growth of the bound per retry (at least 1). */
  factor: number;
}

/** The default retry schedule: up to 0.5 s, 1 s, 2 s, … capped at 30 s. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  initialMs: 500,
  maxMs: 30_000,
  factor: 2,
});

/** A source of uniformly distributed numbers in [0, 1); inject a seeded one in tests. */
export type RandomSource = () => number;

const RETRY_POLICY_KEYS: readonly string[] = [
  "initialMs",
  "maxMs",
  "factor",
] satisfies (keyof RetryPolicy)[];

/** Throws `INVALID_ARGUMENT` unless `policy` is a valid `RetryPolicy` (with no other key). */
export function assertRetryPolicy(policy: unknown): asserts policy is RetryPolicy {
  if (typeof policy !== "object" || policy === null) {
    throw new AssuredError("INVALID_ARGUMENT", "retry must be { initialMs, maxMs, factor }.");
  }
  assertKnownOptions(policy, RETRY_POLICY_KEYS, "retry", "RetryPolicy");
  const p = policy as Record<string, unknown>;
  assertPositiveInteger(p.initialMs, "retry.initialMs");
  assertPositiveInteger(p.maxMs, "retry.maxMs");
  if (typeof p.factor !== "number" || !Number.isFinite(p.factor) || p.factor < 1) {
    throw new AssuredError("INVALID_ARGUMENT", "retry.factor must be a finite number >= 1.");
  }
  if ((p.maxMs as number) < (p.initialMs as number)) {
    throw new AssuredError("INVALID_ARGUMENT", "retry.maxMs must be at least retry.initialMs.");
  }
}

/**
 * The delay before retry number `attempt` (1 for the first retry), with "full jitter": a
 * uniformly random value in [0, min(maxMs, initialMs * factor^(attempt-1))]. Jitter spreads the
 * retries of many clients that failed at the same moment.
 *
 * @example backoffDelay(3, DEFAULT_RETRY_POLICY, Math.random) // somewhere in [0, 2000]
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: RandomSource): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  const bound = Math.min(policy.maxMs, policy.initialMs * policy.factor ** exponent);
  const r = random();
  const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
  return Math.round(unit * bound);
}
