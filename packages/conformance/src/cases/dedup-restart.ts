import { describe, expect, it } from "vitest";
import { expectClaimed, expectSameBytes } from "../assertions.js";
import { requirePersistent, useDedupStores } from "../fixtures.js";
import type { DedupStoreHarness, SuiteOptions } from "../harness.js";
import { RESTART_MODES } from "../restart-modes.js";
import { caseTimeout } from "../suite-options.js";

const lease = { leaseMs: 30_000, fingerprint: "fp" };

/**
 * Dedup restart: responses and held leases survive a new instance on the same data, whether the
 * old one was closed or crashed.
 */
export function describeDedupRestart(harness: DedupStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("dedup restart (G9)", () => {
    const stores = useDedupStores(harness);

    for (const mode of RESTART_MODES) {
      it(
        `keeps a stored response, reopened ${mode.label}`,
        async (context) => {
          const store = await stores.create();
          requirePersistent(context, stores, store);
          const token = expectClaimed(await store.claim("k", lease), "claim");
          const payload = new Uint8Array([0, 0xff, 7]);
          await store.complete("k", token, { ok: true, payload }, { ttlMs: 60_000 });
          await mode.stop(stores, store);
          const restarted = await stores.reopen(store);
          const done = await restarted.claim("k", lease);
          expect(done.status).toBe("done");
          if (done.status === "done") expectSameBytes(done.response.payload, payload, "response");
        },
        timeout,
      );

      it(
        `keeps a held lease and its holder's token, reopened ${mode.label}`,
        async (context) => {
          const store = await stores.create();
          requirePersistent(context, stores, store);
          const token = expectClaimed(await store.claim("k", lease), "claim");
          await mode.stop(stores, store);
          const restarted = await stores.reopen(store);
          expect((await restarted.claim("k", lease)).status).toBe("pending");
          expect(await restarted.release("k", token)).toBe(true);
        },
        timeout,
      );
    }
  });
}
