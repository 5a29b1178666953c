import type { EventStore, Retention } from "@assured/core/store";
import fc from "fast-check";
import type { StoreFixture } from "../fixtures.js";
import { streamNames } from "./event-arbitraries.js";
import { checkRead, type ModelWorld } from "./event-checks.js";
import { type StoreSide, storeCommands } from "./event-commands.js";
import { concurrentRounds, runRound } from "./event-concurrent-rounds.js";
import { EpochBook } from "./event-epoch-book.js";
import { EventLogModel } from "./event-log-model.js";
import { show } from "./violation.js";

/** fast-check settings of a model-based property (`numRuns`, `seed`, time limit). */
export interface ModelRunParameters {
  numRuns: number;
  seed?: number;
  /**
   * Start no new run or command after this many milliseconds (a slow store runs fewer
   * sequences); a failure found by then is still reported, shrunk as far as time allowed.
   */
  timeLimitMs: number;
}

/** Most commands in one sequential run. */
const MAX_COMMANDS = 40;

function worldOf(fixture: StoreFixture<EventStore>, retention: Retention | undefined): ModelWorld {
  return {
    model: new EventLogModel(retention ?? {}),
    epochs: new EpochBook(),
    now: () => fixture.clock(),
  };
}

/** Reads every stream from 0 and compares it with the model: the log as a whole. */
async function checkWholeLog(
  world: ModelWorld,
  store: EventStore,
  streams: readonly string[],
  when: string,
): Promise<void> {
  for (const name of streams) {
    const page = await store.read(name, { after: 0, limit: 10_000 });
    checkRead(
      world,
      name,
      0,
      10_000,
      page,
      `read(${show(name)}, { after: 0, limit: 10000 }) ${when}`,
    );
  }
}

/**
 * The fast-check parameters: the report (seed, path, shrunk counterexample and the rule the
 * store broke) is the message of the error `fc.assert` throws.
 */
function assertParameters(parameters: ModelRunParameters): fc.Parameters<unknown> {
  const { timeLimitMs, ...runs } = parameters;
  return {
    ...runs,
    includeErrorInReport: true,
    // A slow store runs fewer sequences rather than time out: no new run starts after the
    // limit, and an interrupted property that found nothing passes (skipped runs would fail
    // it as "too many pre-condition failures").
    interruptAfterTimeLimit: timeLimitMs,
    markInterruptAsFailure: false,
  };
}

/**
 * Random command sequences (appends, reads, heads, resets, clock steps and, when `reopen`,
 * close/crash and reopen) on 2–3 streams of a fresh store each, every result compared with the
 * model. Throws fast-check's report when a store result breaks a rule.
 */
export async function assertSequentialModel(
  fixture: StoreFixture<EventStore>,
  retention: fc.Arbitrary<Retention | undefined>,
  reopen: boolean,
  parameters: ModelRunParameters,
): Promise<void> {
  const commands = fc.commands(storeCommands({ reopen }), {
    maxCommands: MAX_COMMANDS,
    size: "medium",
  });
  const deadline = Date.now() + parameters.timeLimitMs;
  const property = fc.asyncProperty(
    streamNames,
    retention,
    commands,
    async (streams, kept, run) => {
      const world = worldOf(fixture, kept);
      const real: StoreSide = { store: await fixture.create(kept), fixture };
      try {
        const model = { world, streams, crashes: 0, deadline };
        await fc.asyncModelRun(() => ({ model, real }), run);
        await checkWholeLog(world, real.store, streams, "after the commands");
      } finally {
        await real.store.close().catch(() => undefined);
      }
    },
  );
  await fc.assert(property, assertParameters(parameters));
}

/**
 * Random rounds of appends, reads and heads issued at once (`Promise.all`) over `instances`
 * instances on the same data: offsets gapless and unique, each id appended once, every read a
 * prefix of the final log, and the final log equal to the model's serialization of the results.
 */
export async function assertConcurrentModel(
  fixture: StoreFixture<EventStore>,
  instances: number,
  parameters: ModelRunParameters,
): Promise<void> {
  const deadline = Date.now() + parameters.timeLimitMs;
  const property = fc.asyncProperty(streamNames, concurrentRounds, async (streams, rounds) => {
    const world = worldOf(fixture, undefined);
    const first = await fixture.create();
    const opened = [first];
    try {
      while (opened.length < instances) opened.push(await fixture.reopen(first));
      for (const ops of rounds) {
        if (Date.now() >= deadline) return;
        await runRound(world, streams, opened, ops);
      }
      for (const [i, store] of opened.entries()) {
        await checkWholeLog(world, store, streams, `on instance ${i} after the rounds`);
      }
    } finally {
      for (const store of opened) await store.close().catch(() => undefined);
    }
  });
  await fc.assert(property, assertParameters(parameters));
}
