import { describe, expect, it } from "vitest";
import { useDedupStores } from "../fixtures.js";
import type { DedupStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";
import { openSecond } from "./capabilities.js";

const lease = { leaseMs: 30_000, fingerprint: "fp" };

/** Declared dedup capabilities are checked: a declared lack of persistence or sharing must be real. */
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

    it(
      "sharedAcrossInstances: a non-persistent store that declares sharedAcrossInstances: false shows no claim to a second instance open at the same time",
      async (context) => {
        const store = await stores.create();
        if (store.capabilities.sharedAcrossInstances) {
          return; // nothing to probe: the cross-instance cases check the declared sharing
        }
        if (store.capabilities.persistent) {
          // A persistent store that is not shared (one process at a time, re-reading its files
          // on each call) shows a second instance the data too: seeing proves no sharing here.
          return;
        }
        if (!stores.canReopen) {
          context.skip(
            "the store declares capabilities.sharedAcrossInstances: false and the harness has no reopen()",
          );
        }
        const second = await openSecond(() => stores.reopen(store));
        if (second === undefined) return; // it refuses a second instance: not shared indeed
        await store.claim("capability-probe", lease);
        expect(
          (await second.claim("capability-probe", lease)).status,
          "the store declares capabilities.sharedAcrossInstances: false, but a second instance opened on the same data while the first was open saw its claim: declare sharedAcrossInstances: true (the cross-instance cases then check it)",
        ).toBe("claimed");
      },
      timeout,
    );
  });
}
