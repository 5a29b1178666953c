import type { LiveOutcome } from "../src/live.js";
import type { BenchResults, LiveSection } from "../src/results.js";
import type { RoundsResult } from "../src/rounds.js";
import type { StormResult } from "../src/storm.js";

/** A live result with a rate and a p50 latency. */
export function live(system: string, rate: number, p50: number | null = null): LiveOutcome {
  return {
    system,
    label: system,
    clients: 1,
    deliveriesPerSecond: rate,
    roundRates: [rate],
    latencyP50Ms: p50,
    latencyP99Ms: p50,
  };
}

/** A live workload section. */
export function section(
  title: string,
  clients: number,
  burst: number,
  results: LiveOutcome[],
  latencySamples = 0,
): LiveSection {
  return { title, clients, events: 100, burst, rounds: 5, latencySamples, results };
}

/** A rounds result with one median. */
export function rounds(system: string, median: number): RoundsResult {
  return { system, label: system, rounds: [median], median };
}

/** A storm result. */
export function storm(
  system: string,
  missed: number,
  timeMs: number,
  rssGrowthMb: number,
  lagMaxMs: number,
): StormResult {
  return {
    system,
    label: system,
    clients: 1000,
    missed,
    timeMs,
    rssGrowthMb,
    rssPeakSource: "VmHWM",
    lagMaxMs,
    lagP99Ms: lagMaxMs / 2,
  };
}

/** Results with nothing measured; tests fill in what they check. */
export function emptyResults(patch: Partial<BenchResults> = {}): BenchResults {
  return {
    generatedAt: "2026-11-29T18:00:00.000Z",
    durationSeconds: 1,
    environment: {
      node: "v20",
      platform: "linux x64",
      cpus: 2,
      cpuModel: "cpu",
      loadAverage: [0, 0, 0],
    },
    stores: [],
    live: [],
    catchUp: { missed: 100_000, rounds: 5, storeRounds: 1, results: [] },
    clientToServer: {
      messages: 5000,
      storeMessages: 500,
      inFlight: 100,
      rounds: 5,
      results: [],
      delayed: { roundTripMs: 10, messages: 300, rounds: 5, results: [] },
    },
    storeWrites: { rounds: 5, results: [] },
    targets: [],
    ...patch,
  };
}
