import { untilQuiet } from "./quiet.js";
import { reasonOf } from "./reason.js";
import { median } from "./stats.js";

/** A system's measured rounds and their median, or why it could not be measured. */
export type RoundsResult =
  | { system: string; label: string; rounds: number[]; median: number }
  | { system: string; label: string; error: string };

/**
 * Warms every system up, then runs `rounds` measured rounds interleaved (A, B, C, A, B, C …) so
 * that background load affects every system alike. Each measured round starts once the machine
 * is quiet (`untilQuiet`), so that it is not billed for what the previous one left running. A
 * system that throws is reported with the error and skipped from then on.
 */
export async function interleavedRounds<S extends { key: string; label: string }>(
  systems: readonly S[],
  options: {
    rounds: number;
    warmUp(system: S): Promise<unknown>;
    measure(system: S): Promise<number>;
    describe(system: S, round: number, value: number): string;
  },
  log: (line: string) => void,
): Promise<RoundsResult[]> {
  const values = new Map<string, number[]>(systems.map((s) => [s.key, []]));
  const failures = new Map<string, string>();
  const attempt = async (system: S, run: () => Promise<void>) => {
    if (failures.has(system.key)) return;
    try {
      await run();
    } catch (error) {
      failures.set(system.key, reasonOf(error));
      log(`  ${system.label}: ${reasonOf(error)}`);
    }
  };
  for (const system of systems)
    await attempt(system, async () => void (await options.warmUp(system)));
  for (let round = 0; round < options.rounds; round++) {
    for (const system of systems) {
      await attempt(system, async () => {
        if (!(await untilQuiet())) log("  (the machine stayed busy for 5 s; measuring anyway)");
        const value = await options.measure(system);
        values.get(system.key)!.push(value);
        log(`  ${options.describe(system, round, value)}`);
      });
    }
  }
  return systems.map((system) => {
    const error = failures.get(system.key);
    if (error !== undefined) return { system: system.key, label: system.label, error };
    const rounds = values.get(system.key)!;
    return { system: system.key, label: system.label, rounds, median: median(rounds) };
  });
}
