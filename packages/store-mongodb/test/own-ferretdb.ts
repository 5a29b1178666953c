import { isAssuredError } from "@assured/core";
import { RestartableServer } from "@assured/test-services";
import { afterAll, afterEach, expect } from "vitest";

/**
 * A FerretDB of the test file's own (its own SQLite data directory and port), which its tests
 * may kill, freeze and start again without touching the server other files share. Started on
 * first use, brought back after each test that left it down, stopped when the file ends.
 */
export function useOwnFerretDB(): () => Promise<RestartableServer> {
  let server: Promise<RestartableServer> | undefined;
  afterEach(async () => {
    await (await server)?.revive();
  });
  afterAll(async () => {
    await (await server)?.stop();
  });
  return () => {
    server ??= RestartableServer.ferretdb();
    return server;
  };
}

/**
 * Expects `operation` to reject with `STORE_UNAVAILABLE` (an `AssuredError`, not a raw driver
 * error) within `withinMs`.
 */
export async function expectUnavailable(
  operation: Promise<unknown>,
  withinMs: number,
): Promise<void> {
  const started = performance.now();
  const outcome = await operation.then(
    (value) => ({ resolved: value }),
    (error: unknown) => ({ error }),
  );
  const elapsed = performance.now() - started;
  expect(outcome).toHaveProperty("error");
  const { error } = outcome as { error: unknown };
  expect(isAssuredError(error) ? error.code : error).toBe("STORE_UNAVAILABLE");
  expect(elapsed).toBeLessThan(withinMs);
}
