/** A clock the test moves by hand; pass it wherever a `Clock` is expected. */
export interface TestClock {
  /** The current time in milliseconds. */
  (): number;
  /** Moves the time forward by `ms` (a non-negative integer) and returns the new time. */
  advance(ms: number): number;
  /** Sets the time. */
  set(time: number): void;
}

/** Where test clocks start: 2023-11-14T22:13:20Z, a realistic epoch-milliseconds value. */
export const TEST_CLOCK_START = 1_700_000_000_000;

/**
 * A controllable clock for time-based cases (leases, TTLs, age retention): time stands still
 * until the test advances it, so nothing sleeps.
 *
 * @example
 * const clock = createTestClock();
 * const store = new MemoryDedupStore({ clock });
 * clock.advance(30_001); // the lease has expired
 */
export function createTestClock(start = TEST_CLOCK_START): TestClock {
  let now = start;
  const clock = (() => now) as TestClock;
  clock.advance = (ms: number) => {
    if (!Number.isSafeInteger(ms) || ms < 0) {
      throw new RangeError(`advance() takes a non-negative integer, got ${ms}.`);
    }
    now += ms;
    return now;
  };
  clock.set = (time: number) => {
    now = time;
  };
  return clock;
}
