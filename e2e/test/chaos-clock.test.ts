import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@assured/test-services";
import { afterEach, describe, expect, it } from "vitest";
import { clockFileOf, findLibfaketime, writeClockOffset } from "../src/chaos/clock-jump.js";
import { shortProfile } from "../src/chaos/profiles.js";
import { runChaos } from "../src/chaos/run-chaos.js";
import { NodeProcess } from "../src/multi-node/node-process.js";
import { waitFor } from "../src/multi-node/wait-for.js";

/**
 * The `clock-jump` fault (src/chaos/clock-jump.ts): a node's wall clock really moves, as its
 * process sees it (libfaketime), and a short SQLite run under clock jumps and cuts keeps every
 * guarantee.
 */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The node's `Date.now()` less ours (the HTTP round trip is a few ms). */
async function skewOf(node: NodeProcess): Promise<number> {
  const clock = await node.clock();
  if (clock === undefined) throw new Error("the node does not answer /clock");
  return clock.now - Date.now();
}

describe("chaos clock-jump fault", () => {
  it("a node under the fault sees Date.now jump forward and back; its timers and sockets keep working", async () => {
    expect(findLibfaketime(), "libfaketime (run scripts/ensure-tools.sh)").toBeDefined();
    const dir = await mkdtemp(join(tmpdir(), "assured-clock-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const config = {
      name: "clock0",
      port: await freePort(),
      store: "sqlite" as const,
      path: join(dir, "clock.sqlite"),
    };
    const node = await NodeProcess.start(config);
    cleanups.push(() => node.stop());
    const file = clockFileOf(config);
    cleanups.push(async () => writeClockOffset(file, 0));
    expect(Math.abs(await skewOf(node))).toBeLessThan(1_000);
    for (const offsetMs of [600_000, -300_000, 0]) {
      writeClockOffset(file, offsetMs);
      await waitFor(
        async () => Math.abs((await skewOf(node)) - offsetMs) < 1_000,
        5_000,
        `the node's clock ${offsetMs} ms off`,
      );
      expect((await node.clock())?.offsetMs).toBe(offsetMs);
      // Sockets, timers (group commit) and the store still work with the clock moved.
      const [published] = await node.publish("clock:s", [{ offsetMs }]);
      expect(published?.offset).toBeGreaterThan(0);
    }
  });

  it("SQLite under clock jumps and cuts, fixed seed: jumps happen, no violation", {
    timeout: 120_000,
  }, async () => {
    const profile = {
      ...shortProfile("sqlite"),
      durationMs: 10_000,
      faultEveryMs: 1_000,
      faults: ["clock-jump" as const, "cut" as const],
    };
    const result = await runChaos(profile, 20_261_129);
    console.log(result.report.split("\n").slice(0, 6).join("\n"));
    expect(result.verdict.violations, result.report).toEqual([]);
    expect(result.verdict.figures.faults["clock-jump"] ?? 0).toBeGreaterThan(0);
    expect(result.verdict.figures.faults["clock-jump-end"]).toBe(
      result.verdict.figures.faults["clock-jump"],
    );
    expect(result.verdict.figures.messages).toBe(
      profile.workers * profile.clientsPerWorker * profile.messagesPerClient,
    );
  });
});
