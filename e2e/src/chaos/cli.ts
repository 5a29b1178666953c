/**
 * `pnpm chaos [--long] [--topology redis|sqlite|mongodb] [--seed N] [--seconds N] [--keep]`: one seeded
 * chaos run per topology (all three by default), printing figures and, on a violation, the
 * timeline of the violating clients and the command that replays the run. Exits 1 on any
 * violation.
 */
import { parseArgs } from "node:util";
import { type ChaosProfile, longProfile, shortProfile, type Topology } from "./profiles.js";
import { runChaos } from "./run-chaos.js";

const { values } = parseArgs({
  options: {
    long: { type: "boolean", default: false },
    topology: { type: "string", multiple: true },
    seed: { type: "string" },
    seconds: { type: "string" },
    keep: { type: "boolean", default: false },
  },
  strict: true,
});

const TOPOLOGIES: readonly Topology[] = ["redis", "sqlite", "mongodb"];
const chosen = (values.topology ?? [...TOPOLOGIES]) as Topology[];
for (const t of chosen) {
  if (!TOPOLOGIES.includes(t)) {
    console.error(`unknown topology ${JSON.stringify(t)}; use one of ${TOPOLOGIES.join(", ")}`);
    process.exit(2);
  }
}
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isSafeInteger(seed)) {
  console.error("--seed must be an integer");
  process.exit(2);
}

let failed = false;
for (const topology of chosen) {
  const profile: ChaosProfile = values.long ? longProfile(topology) : shortProfile(topology);
  if (values.seconds !== undefined) profile.durationMs = Number(values.seconds) * 1_000;
  console.log(`chaos: ${topology}, seed ${seed}, ${profile.durationMs / 1_000} s of faults…`);
  const result = await runChaos(profile, seed, { keep: values.keep });
  console.log(result.report);
  console.log(`(${Math.round(result.elapsedMs / 1_000)} s)`);
  if (!result.verdict.ok) failed = true;
}
process.exit(failed ? 1 : 0);
