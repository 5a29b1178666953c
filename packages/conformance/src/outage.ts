import { expect, type TestContext } from "vitest";
import type { StoreFixture } from "./fixtures.js";

/** How long one call may take while the backend is down, from the case timeout. */
export function settleLimit(caseTimeoutMs: number): number {
  return Math.max(500, Math.floor(caseTimeoutMs / 8));
}

/** Skips the case, naming the hook, when the harness cannot break its backend. */
export function requireBreakBackend(context: TestContext, fixture: StoreFixture<unknown>): void {
  if (!fixture.canBreakBackend) {
    context.skip(
      "the harness has no breakBackend(): add it (break the backend under a store until restored) so the kit can check STORE_UNAVAILABLE and recovery",
    );
  }
}

const TIMED_OUT = Symbol("timed out");

/** Settles `action()` within `limitMs`, else fails the case saying `what` hung. */
async function settle<T>(
  action: () => Promise<T>,
  what: string,
  limitMs: number,
): Promise<{ value: T } | { error: unknown }> {
  const pending = (async () => action())();
  const outcome = pending.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), limitMs);
  });
  const first = await Promise.race([outcome, late]);
  clearTimeout(timer);
  if (first === TIMED_OUT) {
    expect.fail(
      `${what} did not settle within ${limitMs} ms: fail fast with AssuredError STORE_UNAVAILABLE while the backend is down (give the driver a connect and command timeout) instead of waiting for it`,
    );
  }
  return first;
}

/** The value of `action()`, which must resolve within `limitMs`. */
export async function within<T>(
  action: () => Promise<T>,
  what: string,
  limitMs: number,
): Promise<T> {
  const outcome = await settle(action, what, limitMs);
  if ("error" in outcome) expect.fail(`${what} failed: ${String(outcome.error)}`);
  return outcome.value;
}

/**
 * Expects `action()` to reject, within `limitMs`, with an `AssuredError` `STORE_UNAVAILABLE`
 * that keeps the backend's error as `cause`. Checked by shape (`name`, `code`).
 */
export async function expectUnavailable(
  action: () => Promise<unknown>,
  what: string,
  limitMs: number,
): Promise<void> {
  const outcome = await settle(action, what, limitMs);
  if (!("error" in outcome)) {
    expect.fail(
      `${what} succeeded while the backend was down (it gave ${shown(outcome.value)}): it must reach the backend and reject with AssuredError STORE_UNAVAILABLE`,
    );
  }
  const error = outcome.error as { name?: unknown; code?: unknown; message?: unknown } | null;
  if (typeof error !== "object" || error === null || error.name !== "AssuredError") {
    expect.fail(
      `${what} while the backend was down: expected AssuredError STORE_UNAVAILABLE, got a raw error: ${String(outcome.error)}. Wrap backend failures with toStoreError(error, "${what}")`,
    );
  }
  if (error.code !== "STORE_UNAVAILABLE") {
    expect.fail(
      `${what} while the backend was down: expected AssuredError STORE_UNAVAILABLE, got ${String(error.code)}: ${String(error.message)}`,
    );
  }
  if ((error as { cause?: unknown }).cause === undefined) {
    expect.fail(
      `${what} while the backend was down: the STORE_UNAVAILABLE error has no cause: keep the backend's error as its cause (toStoreError does)`,
    );
  }
}

/**
 * The value of `action()` once the backend is back: a `STORE_UNAVAILABLE` rejection (a client
 * still reconnecting) is retried every 20 ms until `limitMs`; any other failure fails the case.
 */
export async function onceRestored<T>(
  action: () => Promise<T>,
  what: string,
  limitMs: number,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const outcome = await settle(action, `${what} after restore`, limitMs);
    if ("value" in outcome) return outcome.value;
    const code = (outcome.error as { code?: unknown } | null)?.code;
    if (code !== "STORE_UNAVAILABLE" || Date.now() >= deadline) {
      expect.fail(
        `${what} after the backend was restored failed: ${String(outcome.error)}. The same store instance must work again once its backend is back (reconnect)`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A value for a failure message: JSON where it has one, else its string form; at most 300 characters. */
function shown(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
