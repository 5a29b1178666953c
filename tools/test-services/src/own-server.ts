import { afterAll, afterEach, expect } from "vitest";

/** What `useOwnServer` needs of a server: start it again if down, stop it. */
export interface OwnedServer {
  revive(): Promise<unknown>;
  stop(): Promise<unknown>;
}

/**
 * A server of the test file's own (from `start`, e.g. `() => RestartableServer.redis()`), which its
 * tests may kill, freeze and start again without touching the server other files share.
 * Started on first use, brought back after each test that left it down, stopped when the file
 * ends. Call it at the top of a test file.
 */
export function useOwnServer<S extends OwnedServer>(start: () => Promise<S>): () => Promise<S> {
  let server: Promise<S> | undefined;
  afterEach(async () => {
    await (await server)?.revive();
  });
  afterAll(async () => {
    await (await server)?.stop();
  });
  return () => {
    server ??= start();
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
  const { error } = outcome as { error: { code?: unknown } };
  expect(error?.code ?? error).toBe("STORE_UNAVAILABLE");
  expect(elapsed).toBeLessThan(withinMs);
}
