/** A promise that resolves after `tick()` was called `count` times, or rejects after `timeoutMs`. */
export interface Countdown {
  readonly done: Promise<void>;
  tick(): void;
  /** Ticks still missing. */
  readonly remaining: number;
}

/**
 * Counts deliveries of a fixed amount of work. The timeout turns a stalled system into a
 * reported failure instead of a hung benchmark.
 *
 * @example
 * const delivered = countdown(events * clients, 60_000, "live delivery");
 * socket.on("event", () => delivered.tick());
 * await delivered.done;
 */
export function countdown(count: number, timeoutMs: number, what: string): Countdown {
  let remaining = count;
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const timer = setTimeout(
    () => reject(new Error(`${what}: timed out after ${timeoutMs} ms, ${remaining} missing`)),
    timeoutMs,
  );
  const finish = () => {
    clearTimeout(timer);
    resolve();
  };
  if (remaining <= 0) finish();
  return {
    done,
    tick() {
      remaining--;
      if (remaining === 0) finish();
    },
    get remaining() {
      return remaining;
    },
  };
}

/** Resolves after the current turn of the event loop (lets sockets read and write). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Waits for `work` to settle, but at most `ms` (then goes on; the outcome is ignored). For
 * cleanup that must not hang a run when a system under test is stuck.
 */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    work.catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
