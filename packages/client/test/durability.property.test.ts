/**
 * Model-based test of the client's durability promises (DESIGN §8) against the real server and
 * client over loopback. Each run: one server, one `memoryStorage` shared by successive "page
 * lives", and up to 25 generated steps — publishes (also while the server is down, straight into
 * its store as another node would), late handler registration, late subscriptions, reloads,
 * server outages, outbox messages (also from a short-lived second tab on the same storage),
 * a handler that throws once, resume, and waits. Then everything is brought to rest and checked:
 * - per stream, each page life handled offsets 1 apart (in order, no duplicate, no hole); the
 *   next page life starts right after, or repeats the last one; together they cover 1..head;
 * - the server-subscribed stream is persisted and resumed like the application's own;
 * - no event reached a handler of another name, or a handler of a closed page life; a stream's
 *   handlers never overlap; NO_HANDLER is never reported for a name that has a handler;
 * - every message ran exactly once on the server, the page lives' in emit order, and each has
 *   its result in the last page life.
 * The seed is printed; replay with ASSURED_FC_SEED=<seed> (and ASSURED_FC_PATH=<path>).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CLIENT_STREAMS,
  type Config,
  NAMES,
  type Step,
  STREAMS,
  World,
} from "./model-durability.js";

const NUM_RUNS = Number(process.env.ASSURED_FC_RUNS ?? 20);
const SEED = Number(process.env.ASSURED_FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PATH = process.env.ASSURED_FC_PATH;

const name = fc.constantFrom(...NAMES);
const stream = fc.constantFrom(...STREAMS);
const clientStream = fc.constantFrom(...CLIENT_STREAMS);

const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant("publish"), stream, name, k: fc.integer({ min: 1, max: 4 }) }), weight: 8 },
  { arbitrary: fc.record({ t: fc.constant("register"), name }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant("subscribe"), stream: clientStream }), weight: 1 },
  { arbitrary: fc.constant({ t: "reload" }), weight: 3 },
  { arbitrary: fc.constant({ t: "serverDown" }), weight: 2 },
  { arbitrary: fc.constant({ t: "serverUp" }), weight: 2 },
  { arbitrary: fc.constant({ t: "emit" }), weight: 4 },
  { arbitrary: fc.constant({ t: "tab" }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant("fault"), stream }), weight: 2 },
  { arbitrary: fc.constant({ t: "resume" }), weight: 1 },
  { arbitrary: fc.constant({ t: "sync" }), weight: 2 },
) as fc.Arbitrary<Step>;

const config: fc.Arbitrary<Config> = fc.record({
  handlers: fc.subarray([...NAMES]),
  streams: fc.subarray([...CLIENT_STREAMS]),
  asyncHandlers: fc.boolean(),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

async function runModel(c: Config, steps: Step[]): Promise<void> {
  const world = new World(c);
  try {
    await world.start();
    for (const s of steps) await world.run(s);
    await world.settle();
  } catch (error) {
    world.violation(`error: ${(error as Error).message}`);
  } finally {
    await world.dispose().catch((e: Error) => world.violation(`dispose: ${e.message}`));
  }
  const violations = world.verify();
  if (violations.length > 0) {
    throw new Error(`${violations.join("\n")}\n--- run ---\n${world.describe()}`);
  }
}

describe("durability model (real server and client, reloads, outages, outbox)", () => {
  it("every event handled in order and at least once per page life boundary, every message once", async () => {
    console.log(
      `durability model: seed ${SEED}, ${NUM_RUNS} runs (ASSURED_FC_SEED=${SEED} to replay)`,
    );
    await fc.assert(
      fc.asyncProperty(config, fc.array(step, { maxLength: 25 }), runModel),
      {
        seed: SEED,
        numRuns: NUM_RUNS,
        ...(PATH === undefined ? {} : { path: PATH }),
        // Shrinking against a real server is slow: report what was found after 3 minutes.
        interruptAfterTimeLimit: 180_000,
        markInterruptAsFailure: false,
      },
    );
    expect(true).toBe(true);
  }, 240_000);
});
