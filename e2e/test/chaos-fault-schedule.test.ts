import { describe, expect, it } from "vitest";
import type { ChaosLogLine } from "../src/chaos/chaos-log.js";
import { FaultSchedule, type FaultTargets } from "../src/chaos/fault-schedule.js";
import { SeededRandom } from "../src/chaos/seeded-random.js";

describe("chaos fault schedule", () => {
  it("notes a node kill when the node is dead, after a start still in progress: a run the new process handled first counts as before the crash", async () => {
    let now = 0;
    let killedAt: number | undefined;
    let killAsked = false;
    let finishStart!: () => void;
    const startInProgress = new Promise<void>((resolve) => {
      finishStart = resolve;
    });
    const topology = {
      size: 1,
      running: () => true,
      name: () => "n0",
      async killNode() {
        killAsked = true;
        // Like ChaosTopology: a start in progress finishes before the kill.
        await startInProgress;
        killedAt = now;
      },
      async startNode() {},
    };
    const lines: ChaosLogLine[] = [];
    const schedule = new FaultSchedule(
      { topology, proxy: { heal() {} } } as unknown as FaultTargets,
      new SeededRandom(1),
      ["kill-node"],
      1,
      (line) => lines.push(line),
      () => now,
    );
    schedule.start();
    await expect.poll(() => killAsked).toBe(true);
    // The start in progress ends (and its process may handle a message) at t = 100.
    now = 100;
    finishStart();
    await expect
      .poll(() => lines.some((l) => l.kind === "fault" && l.fault === "kill-node"))
      .toBe(true);
    const kill = lines.find((l) => l.kind === "fault" && l.fault === "kill-node")!;
    expect(kill.t).toBeGreaterThanOrEqual(killedAt!);
    await schedule.stop();
  });
});
