import { readFileSync } from "node:fs";

/** Share of CPU time the machine must spend idle over one window to count as quiet. */
const QUIET_IDLE = 0.85;
/** The window over which idleness is measured, ms. */
const WINDOW_MS = 100;

/** Idle and total CPU ticks of all cores so far (`/proc/stat`), or undefined off Linux. */
function cpuTicks(): { idle: number; total: number } | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/stat", "utf8");
  } catch {
    return undefined;
  }
  // user nice system idle iowait irq softirq steal (guest and guest_nice, after them, are
  // already counted in user and nice). Waiting for I/O counts as busy: a database server's
  // checkpoint is mostly that.
  const fields = text.slice(0, text.indexOf("\n")).trim().split(/\s+/).slice(1, 9).map(Number);
  return { idle: fields[3] ?? 0, total: fields.reduce((sum, value) => sum + value, 0) };
}

/**
 * Waits until the machine is quiet: at least 85% of its CPU time idle over a 100 ms window, so
 * that a round is not billed for background work another system left behind (a database
 * server's checkpoint or autovacuum after the previous round's writes). Gives up after
 * `limitMs` and returns false (the round then runs anyway; the caller logs it). Off Linux it
 * returns true at once.
 */
export async function untilQuiet(limitMs = 5_000): Promise<boolean> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    const before = cpuTicks();
    if (before === undefined) return true;
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
    const after = cpuTicks()!;
    const total = after.total - before.total;
    if (total > 0 && (after.idle - before.idle) / total >= QUIET_IDLE) return true;
    if (performance.now() >= deadline) return false;
  }
}
