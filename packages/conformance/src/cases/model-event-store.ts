import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { useEventStores } from "../fixtures.js";
import { DEFAULT_MODEL_RUNS, type EventStoreHarness, type SuiteOptions } from "../harness.js";
import { retentionOf } from "../model/event-arbitraries.js";
import {
  assertConcurrentModel,
  assertSequentialModel,
  type ModelRunParameters,
} from "../model/event-properties.js";
import { caseTimeout, instanceCount, modelParameters } from "../suite-options.js";

/** Instances the concurrent property spreads its operations over (when the store is shared). */
const CONCURRENT_INSTANCES = 3;

/**
 * The case timeout of a model-based case: the suite's case timeout, scaled by how many more runs
 * than the default the options ask for. After three quarters of it fast-check starts no new
 * sequence and stops shrinking: a slow store runs fewer sequences, and a failure's report (seed,
 * shrunk commands) is never lost to the timeout.
 */
function modelTimeouts(options: SuiteOptions): { caseMs: number; parameters: ModelRunParameters } {
  const runs = modelParameters(options);
  const caseMs = caseTimeout(options) * Math.max(1, Math.ceil(runs.numRuns / DEFAULT_MODEL_RUNS));
  return { caseMs, parameters: { ...runs, timeLimitMs: Math.floor(caseMs * 0.75) } };
}

/**
 * Model-based cases: random operation sequences checked step by step against a plain model of
 * the contract (fast-check; `options.runs` sequences per case, replayable with `options.seed`).
 * A failure reports the rule the store broke, the seed and the shrunk command list.
 */
export function describeEventStoreModel(
  harness: EventStoreHarness,
  options: SuiteOptions = {},
): void {
  const { caseMs, parameters } = modelTimeouts(options);
  describe("model-based (random operation sequences)", () => {
    const stores = useEventStores(harness);

    /** The store's declared capabilities, from a store opened and closed at once. */
    async function capabilities() {
      const probe = await stores.create();
      await probe.close();
      return probe.capabilities;
    }

    it(
      "matches the model over random appends, reads, heads, resets, clock steps, reopens and crashes",
      async () => {
        const { persistent } = await capabilities();
        const reopen = persistent && stores.canReopen;
        await assertSequentialModel(stores, fc.constant(undefined), reopen, parameters);
      },
      caseMs,
    );

    it(
      "matches the model with retention by length and by age (trimmed ids append again)",
      async (context) => {
        const { persistent, retentionByLength, retentionByAge } = await capabilities();
        if (!retentionByLength && !retentionByAge) {
          context.skip(
            "the store declares capabilities.retentionByLength: false and capabilities.retentionByAge: false",
          );
        }
        const retention = retentionOf(retentionByLength, retentionByAge);
        await assertSequentialModel(stores, retention, persistent && stores.canReopen, parameters);
      },
      caseMs,
    );

    it(
      "matches the model under concurrent appends and reads on several instances",
      async () => {
        const { sharedAcrossInstances } = await capabilities();
        const instances = sharedAcrossInstances ? instanceCount(options, CONCURRENT_INSTANCES) : 1;
        if (instances > 1) {
          expect(
            stores.canReopen,
            "the store declares capabilities.sharedAcrossInstances: true, but the harness has no reopen(): add reopen to your harness so the kit can check it",
          ).toBe(true);
        }
        await assertConcurrentModel(stores, instances, parameters);
      },
      caseMs,
    );
  });
}
