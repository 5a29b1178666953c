import type { DedupStore } from "@assured/core/store";
import fc from "fast-check";
import { describe, it } from "vitest";
import { expectAssuredError, expectClaimed } from "../assertions.js";
import { type StoreFixture, useDedupStores } from "../fixtures.js";
import type { DedupStoreHarness, SuiteOptions } from "../harness.js";
import { MODEL_DEDUP_KEYS, modelRunArbitrary } from "../model/dedup-arbitraries.js";
import { FORGED_TOKEN } from "../model/dedup-commands.js";
import { holderRaceArbitrary, runHolderRace } from "../model/dedup-holder-race.js";
import { DedupModel } from "../model/dedup-model.js";
import { raceArbitrary, runRace } from "../model/dedup-race.js";
import { DedupSystem } from "../model/dedup-system.js";
import { caseTimeout, instanceCount, modelParameters } from "../suite-options.js";

/** Most instances a model run or race spreads its calls over. */
const MAX_INSTANCES = 3;

/** What the store and its harness let a run do: restarts, and how many instances. */
async function abilitiesOf(stores: StoreFixture<DedupStore>, options: SuiteOptions) {
  const probe = await stores.create();
  const { persistent, sharedAcrossInstances } = probe.capabilities;
  await probe.close();
  return {
    restart: persistent && stores.canReopen,
    instances:
      sharedAcrossInstances && stores.canReopen ? instanceCount(options, MAX_INSTANCES) : 1,
  };
}

/**
 * fast-check settings of a model property: the suite's runs and seed, the failing error in the
 * report (so the failure names the rule), and an end well before the case's timeout, so a slow
 * search is reported with its seed and counterexample instead of a bare timeout.
 */
function parametersOf(options: SuiteOptions): fc.Parameters<unknown> {
  return {
    ...modelParameters(options),
    includeErrorInReport: true,
    interruptAfterTimeLimit: Math.floor(caseTimeout(options) * 0.75),
    markInterruptAsFailure: true,
  };
}

/**
 * Dedup model: random sequences of claims, completes, releases, renewals, clock steps across
 * lease ends and TTLs, restarts and crashes, on a few (hostile) keys, each answer checked
 * against a reference model of the contract; racing claims after a takeover; a holder's
 * complete or release among its own renewals and others' claims; `STORE_CLOSED`.
 * A failure reports the broken rule, fast-check's seed (replay with `seed`, CLI `--seed`) and
 * the shrunk commands.
 */
export function describeDedupStoreModel(
  harness: DedupStoreHarness,
  options: SuiteOptions = {},
): void {
  const timeout = caseTimeout(options);
  describe("dedup model (G9: random operation sequences)", () => {
    const stores = useDedupStores(harness);

    it(
      "answers every random sequence of claim, complete, release, renew, clock steps, restarts and crashes as the contract's model does",
      async () => {
        const abilities = await abilitiesOf(stores, options);
        await fc.assert(
          fc.asyncProperty(modelRunArbitrary(abilities), async ([, commands]) => {
            const system = await DedupSystem.open(stores, abilities.instances);
            try {
              await fc.asyncModelRun(() => ({ model: new DedupModel(), real: system }), commands);
            } finally {
              await system.closeAll();
            }
          }),
          parametersOf(options),
        );
      },
      timeout,
    );

    /** A property over generated races, each run on fresh data with the instances it asks for. */
    const races =
      <R extends { instances: number }>(
        arbitrary: (maxInstances: number) => fc.Arbitrary<R>,
        run: (race: R, system: DedupSystem) => Promise<void>,
      ) =>
      async () => {
        const { instances } = await abilitiesOf(stores, options);
        await fc.assert(
          fc.asyncProperty(arbitrary(instances), async (race) => {
            const system = await DedupSystem.open(stores, race.instances);
            try {
              await run(race, system);
            } finally {
              await system.closeAll();
            }
          }),
          parametersOf(options),
        );
      };

    it(
      "lets exactly one of many racing claims win after a lease ended, a release or an expired response, with a larger fencing token",
      races(raceArbitrary, runRace),
      timeout,
    );

    it(
      "stores a holder's response, or frees its key, while its own renewals and others' claims are in flight (generated overlaps)",
      races(holderRaceArbitrary, runHolderRace),
      timeout,
    );

    it(
      "answers STORE_CLOSED from every method after close, for held, done and unknown keys",
      async () => {
        const store = await stores.create();
        const lease = { leaseMs: 30_000, fingerprint: "fp" };
        const response = { ok: true, payload: new Uint8Array([1]) };
        const held = expectClaimed(await store.claim("held", lease), "claim");
        const done = expectClaimed(await store.claim("done", lease), "claim");
        await store.complete("done", done, response, { ttlMs: 60_000 });
        await store.close();
        await store.close();
        const keys = ["held", "done", ...MODEL_DEDUP_KEYS];
        for (const key of keys) {
          const at = `after close, key ${JSON.stringify(key).slice(0, 40)}`;
          await expectAssuredError(() => store.claim(key, lease), "STORE_CLOSED", `claim ${at}`);
          for (const token of [held, done, FORGED_TOKEN]) {
            await expectAssuredError(
              () => store.complete(key, token, response, { ttlMs: 1_000 }),
              "STORE_CLOSED",
              `complete ${at}`,
            );
            await expectAssuredError(
              () => store.release(key, token),
              "STORE_CLOSED",
              `release ${at}`,
            );
            await expectAssuredError(
              () => store.renew(key, token, 1_000),
              "STORE_CLOSED",
              `renew ${at}`,
            );
          }
        }
      },
      timeout,
    );
  });
}
