import { describe } from "vitest";
import { describeDedupBackendFailure } from "./cases/dedup-backend-failure.js";
import { describeDedupBasics } from "./cases/dedup-basics.js";
import { describeDedupBatch } from "./cases/dedup-batch.js";
import { describeDedupCapabilities } from "./cases/dedup-capabilities.js";
import { describeDedupConcurrency } from "./cases/dedup-concurrency.js";
import { describeDedupExpiry } from "./cases/dedup-expiry.js";
import { describeDedupInvalidArguments } from "./cases/dedup-invalid-arguments.js";
import { describeDedupQuota } from "./cases/dedup-quota.js";
import { describeDedupRenew } from "./cases/dedup-renew.js";
import { describeDedupRestart } from "./cases/dedup-restart.js";
import { describeDedupStoreModel } from "./cases/model-dedup-store.js";
import type { DedupStoreHarness, SuiteOptions } from "./harness.js";

/**
 * The whole `DedupStore` conformance suite, as vitest `describe` blocks.
 *
 * @example
 * import { describeDedupStore } from "@assured/conformance";
 * describeDedupStore("MyDedup", { create: async ({ clock }) => new MyDedupStore({ clock }) });
 */
export function describeDedupStore(
  name: string,
  harness: DedupStoreHarness,
  options: SuiteOptions = {},
): void {
  describe(`DedupStore conformance: ${name}`, () => {
    describeDedupBasics(harness, options);
    describeDedupExpiry(harness, options);
    describeDedupConcurrency(harness, options);
    describeDedupRestart(harness, options);
    describeDedupBackendFailure(harness, options);
    describeDedupInvalidArguments(harness, options);
    describeDedupQuota(harness, options);
    describeDedupRenew(harness, options);
    describeDedupCapabilities(harness, options);
    describeDedupStoreModel(harness, options);
    describeDedupBatch(harness, options);
  });
}
