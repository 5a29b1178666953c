import { describe, expect, it } from "vitest";
import { type FaultKind, shortProfile, type Topology } from "../src/chaos/profiles.js";
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
  without: readonly FaultKind[] = [],
): Promise<void> {
  const base = shortProfile(topology);
  const faults = base.faults.filter((f) => !without.includes(f));
  const profile = { ...base, faults, durationMs: FAULT_MS };
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
  it("Mongo-wire (FerretDB), fixed seed", { timeout: 180_000 }, () => chaos("mongodb", 20_261_129));
  it("Redis, a random seed (printed for replay)", { timeout: 180_000 }, () => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    console.log(`chaos random seed: ${seed} (replay: pnpm chaos --topology redis --seed ${seed})`);
    return chaos("redis", seed);
  });
});
