/**
 * `pnpm chaos [--long] [--topology redis|redis-cluster|postgres|sqlite|mongodb] [--store <module>]
 * [--seed N] [--seconds N] [--faults a,b] [--restart-modes a,b] [--tabs N] [--keep]`: one seeded chaos run per topology (every built-in one by
 * default), printing figures and, on a violation, the timeline of the violating clients and the
 * command that replays the run. Exits 1 on any violation.
 *
 * `--store <module>` runs topology `custom`: one node on the stores the module's `chaos.open`
 * opens (see `store-module.ts`); alone, it runs only that topology. A relative path is read from
 * the directory `pnpm chaos` was run in. `--faults`, `--restart-modes` and `--tabs` replace the
 * profile's fault list, `restart-store` modes and Chromium tab count (a failing run prints them
 * in its replay command).
 */
import { parseArgs } from "node:util";
import {
  type ChaosProfile,
  FAULT_KINDS,
  type FaultKind,
  longProfile,
  shortProfile,
  type Topology,
  withDuration,
} from "./profiles.js";
import { runChaos } from "./run-chaos.js";
import { loadChaosStoreModule, resolveStoreModule } from "./store-module.js";
import type { StoreRestartMode } from "./store-restarts.js";

const { values } = parseArgs({
  options: {
    long: { type: "boolean", default: false },
    topology: { type: "string", multiple: true },
    store: { type: "string" },
    seed: { type: "string" },
    seconds: { type: "string" },
    faults: { type: "string" },
    "restart-modes": { type: "string" },
    tabs: { type: "string" },
    keep: { type: "boolean", default: false },
  },
  strict: true,
});

/** A comma-separated list, each item one of `allowed`; exits 2 naming the bad one. */
function listOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
  const items = value.split(",").filter((item) => item !== "");
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      console.error(`--${flag}: unknown ${JSON.stringify(item)}; use any of ${allowed.join(", ")}`);
      process.exit(2);
    }
  }
  return items as T[];
}

const faults =
  values.faults === undefined ? undefined : listOf<FaultKind>("faults", values.faults, FAULT_KINDS);
const restartModes =
  values["restart-modes"] === undefined
    ? undefined
    : listOf<StoreRestartMode>("restart-modes", values["restart-modes"], [
        "persistent",
        "volatile",
        "snapshot",
      ]);
const tabs = values.tabs === undefined ? undefined : Number(values.tabs);
if (tabs !== undefined && !(Number.isSafeInteger(tabs) && tabs >= 0 && tabs <= 16)) {
  console.error("--tabs must be an integer from 0 to 16");
  process.exit(2);
}

const TOPOLOGIES: readonly Topology[] = ["redis", "redis-cluster", "postgres", "sqlite", "mongodb"];
const storeModule =
  values.store === undefined
    ? undefined
    : resolveStoreModule(values.store, process.env.INIT_CWD ?? process.cwd());
const chosen = (values.topology ?? (storeModule ? [] : [...TOPOLOGIES])) as Topology[];
for (const t of chosen) {
  if (!TOPOLOGIES.includes(t)) {
    const custom = t === "custom" ? " (a store of your own: --store <module>)" : "";
    console.error(
      `unknown topology ${JSON.stringify(t)}${custom}; use one of ${TOPOLOGIES.join(", ")}`,
    );
    process.exit(2);
  }
}
if (storeModule !== undefined) {
  try {
    await loadChaosStoreModule(storeModule);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(2);
  }
  chosen.push("custom");
}
const seconds = values.seconds === undefined ? undefined : Number(values.seconds);
if (seconds !== undefined && !(Number.isFinite(seconds) && seconds > 0 && seconds <= 86_400)) {
  console.error("--seconds must be a number of seconds above 0 (at most 86400)");
  process.exit(2);
}
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isSafeInteger(seed)) {
  console.error("--seed must be an integer");
  process.exit(2);
}

let failed = false;
for (const topology of chosen) {
  const base: ChaosProfile = values.long ? longProfile(topology) : shortProfile(topology);
  const profile = seconds === undefined ? base : withDuration(base, seconds * 1_000);
  if (topology === "custom") profile.storeModule = storeModule;
  if (faults !== undefined) profile.faults = faults;
  if (restartModes !== undefined) profile.restartModes = restartModes;
  if (tabs !== undefined) profile.tabs = tabs;
  const label = topology === "custom" ? `custom store ${storeModule}` : topology;
  console.log(`chaos: ${label}, seed ${seed}, ${profile.durationMs / 1_000} s of faults…`);
  const result = await runChaos(profile, seed, { keep: values.keep });
  console.log(result.report);
  console.log(`(${Math.round(result.elapsedMs / 1_000)} s)`);
  if (!result.verdict.ok) failed = true;
}
process.exit(failed ? 1 : 0);
