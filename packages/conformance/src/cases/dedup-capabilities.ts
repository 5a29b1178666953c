import { describe, expect, it } from "vitest";
import { useDedupStores } from "../fixtures.js";
import type { DedupStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

const lease = { leaseMs: 30_000, fingerprint: "fp" };

/** Declared dedup capabilities are checked: a declared lack of persistence must be real. */
export function describeDedupCapabilities(
  harness: DedupStoreHarness,
  options: SuiteOptions = {},
): void {
  const timeout = caseTimeout(options);
  describe("dedup capabilities (declared, then checked)", () => {
    const stores = useDedupStores(harness);

    it(
      "persistent: a store that declares persistent: false keeps no claim in a reopened instance",
      async (context) => {
        const store = await stores.create();
        if (store.capabilities.persistent) {
          return; // nothing to probe: the restart cases check the declared persistence
        }
        if (!stores.canReopen) {
          context.skip(
            "the store declares capabilities.persistent: false and the harness has no reopen()",
          );
        }
        await store.claim("capability-probe", lease);
        await store.close();
        const reopened = await stores.reopen(store);
        expect(
          (await reopened.claim("capability-probe", lease)).status,
          "the store declares capabilities.persistent: false, but a reopened instance kept a claim: declare persistent: true (the restart cases then check it)",
        ).toBe("claimed");
      },
      timeout,
    );
  });
}
