import { describe, expect, it } from "vitest";
import {
  type FaultKind,
  replayCommand,
  shortProfile,
  type Topology,
  withDuration,
} from "../src/chaos/profiles.js";
import { runChaos } from "../src/chaos/run-chaos.js";

/**
 * The chaos harness's short profile in the test command: each topology under a fixed seed,
 * plus one run under a random seed (printed, to replay with `pnpm chaos --seed N`). The long
 * profile is `pnpm chaos --long` (docs/reliability.md).
 */
const FAULT_MS = 15_000;

async function chaos(
  topology: Topology,
  seed: number,
  faults?: readonly FaultKind[],
): Promise<void> {
  const base = shortProfile(topology);
  // As `pnpm chaos --seconds 15` builds it, so the printed replay command is this very run.
  const profile = { ...withDuration(base, FAULT_MS), faults: [...(faults ?? base.faults)] };
  const result = await runChaos(profile, seed);
  console.log(result.report.split("\n").slice(0, 6).join("\n"));
  if (!result.verdict.ok) console.log(result.report);
  expect(result.verdict.violations, result.report).toEqual([]);
  expect(result.verdict.figures.messages).toBe(
    (profile.workers * profile.clientsPerWorker + (profile.tabs ?? 0)) * profile.messagesPerClient,
  );
}

describe("chaos, short profile (G1–G10 under real faults)", () => {
  it("Redis, 2 nodes with the Redis adapter, fixed seed", { timeout: 180_000 }, () =>
    chaos("redis", 20_261_129),
  );
  it("SQLite, one node SIGKILLed and restarted, fixed seed", { timeout: 180_000 }, () =>
    chaos("sqlite", 20_261_129),
  );
  it(
    "SQLite restored from a snapshot: the run settles only once every client is on the store's log",
    { timeout: 180_000 },
    () =>
      // Seed 5 restores the file to an older snapshot while clients stand past its head: settling
      // on offsets alone ended the run before their `diverged` outcomes (36 false losses).
      chaos("sqlite", 5, ["restart-store", "cut", "stall"]),
  );
  it("Mongo-wire (FerretDB), fixed seed", { timeout: 180_000 }, () => chaos("mongodb", 20_261_129));
  it("Redis, a random seed (printed for replay)", { timeout: 180_000 }, () => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const replay = replayCommand(withDuration(shortProfile("redis"), FAULT_MS), seed);
    console.log(`chaos random seed: ${seed} (replay: ${replay})`);
    return chaos("redis", seed);
  });
});
