// Which scenarios and stores a run measures: `--only <scenarios>` and `--stores <kinds>`
// (comma-separated; both default to everything). A run that leaves something out is partial
// and writes no results files.
import { parseArgs } from "node:util";
import { STORE_KINDS, type StoreKind } from "./stores.js";

/** The scenarios of a run, in run order. */
export const SCENARIOS = [
  "live",
  "catch-up",
  "client-to-server",
  "store-writes",
  "storm",
  "memory",
] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** What one run measures. */
export interface Selection {
  scenarios: ReadonlySet<Scenario>;
  /** The Assured store kinds (the Socket.IO baselines and bare drivers always run alongside). */
  stores: readonly StoreKind[];
  /** True when everything is measured (only such a run may write the results files). */
  complete: boolean;
}

function pick<T extends string>(value: string | undefined, all: readonly T[], flag: string): T[] {
  if (value === undefined) return [...all];
  const names = value
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  for (const name of names) {
    if (!(all as readonly string[]).includes(name)) {
      throw new Error(`${flag}: unknown "${name}"; choose from ${all.join(", ")}`);
    }
  }
  if (names.length === 0) throw new Error(`${flag} needs at least one of ${all.join(", ")}`);
  return all.filter((name) => names.includes(name));
}

/** Reads `--only` and `--stores` from the command line; throws on an unknown name or flag. */
export function parseSelection(args: readonly string[]): Selection {
  const { values } = parseArgs({
    args: [...args],
    options: { only: { type: "string" }, stores: { type: "string" } },
    strict: true,
    allowPositionals: false,
  });
  const scenarios = pick(values.only, SCENARIOS, "--only");
  const stores = pick(values.stores, STORE_KINDS, "--stores");
  return {
    scenarios: new Set(scenarios),
    stores,
    complete: scenarios.length === SCENARIOS.length && stores.length === STORE_KINDS.length,
  };
}
