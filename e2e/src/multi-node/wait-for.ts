/** What `waitFor` reports when it gives up: a fixed text or one computed at the timeout. */
export type WaitDescription = string | (() => string);

/** Interval between two checks of the predicate (ms). */
const POLL_MS = 10;

/**
 * Polls observable state until `predicate` returns a truthy value (which it resolves with);
 * rejects after `timeoutMs` with `what` in the message, or with the predicate's own error.
 * The state polled here lives in other processes (servers, Redis, a database), so there is no
 * in-process event to await.
 *
 * @example await waitFor(() => client.offsets().length >= 100, 10_000, "100 events delivered");
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs = 10_000,
  what: WaitDescription = "a condition",
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    if (Date.now() >= deadline) {
      const text = typeof what === "function" ? what() : what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${text}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
