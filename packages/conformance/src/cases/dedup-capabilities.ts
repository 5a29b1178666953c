import { describe } from "vitest";
import { useDedupStores } from "../fixtures.js";
import type { DedupStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";
import { declaredLackCases } from "./declared-lacks.js";

const lease = { leaseMs: 30_000, fingerprint: "fp" };

/** Declared dedup capabilities are checked: a declared lack of persistence or sharing must be real. */
export function describeDedupCapabilities(
  harness: DedupStoreHarness,
  options: SuiteOptions = {},
): void {
  const timeout = caseTimeout(options);
  describe("dedup capabilities (declared, then checked)", () => {
    const stores = useDedupStores(harness);

    declaredLackCases(
      stores,
      {
        none: "no claim",
        trace: "a claim",
        seen: "its claim",
        write: async (store) => void (await store.claim("capability-probe", lease)),
        sees: async (store) => (await store.claim("capability-probe", lease)).status !== "claimed",
      },
      timeout,
    );
  });
}
